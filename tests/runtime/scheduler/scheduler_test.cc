// Scheduler tests: hand-computed plans (budget splitting, chunked prefill, admission order,
// preemption and recompute, cancellation) and a paged simulation that checks block tables,
// positions and recompute against a sequential reference, with block accounting after each step.
#include "runtime/scheduler/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hobbit::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

SchedulerConfig Config(int32_t budget, int32_t block_size, int32_t max_running = 16) {
  SchedulerConfig c;
  c.step_token_budget = budget;
  c.block_size = block_size;
  c.max_running = max_running;
  c.max_waiting = 8;
  c.max_context = 64;
  return c;
}

std::vector<int32_t> Range(int32_t first, int32_t n) {
  std::vector<int32_t> v(n);
  for (int32_t i = 0; i < n; ++i) v[i] = first + i;
  return v;
}

// Sampled tokens for a plan: 1000 + seq id where logits were asked for.
std::vector<int32_t> SampleAll(const StepPlan& plan) {
  std::vector<int32_t> out;
  for (const StepSequence& s : plan.seqs) {
    out.push_back(s.logits == LogitsWanted::kNone ? Scheduler::kNoToken : 1000 + static_cast<int32_t>(s.seq_id));
  }
  return out;
}

// Asserts every live sequence's blocks are disjoint and add up to the allocator's used count.
void ExpectBlocksConsistent(const Scheduler& s, const std::vector<int64_t>& live_ids) {
  std::set<int32_t> seen;
  int32_t total = 0;
  for (int64_t id : live_ids) {
    const SequenceState* seq = s.Find(id);
    if (seq == nullptr) continue;
    for (int32_t b : seq->block_table) {
      EXPECT_TRUE(seen.insert(b).second) << "block " << b << " held twice";
    }
    total += static_cast<int32_t>(seq->block_table.size());
    EXPECT_GE(int64_t{static_cast<int32_t>(seq->block_table.size())} * s.config().block_size, seq->num_computed);
  }
  EXPECT_EQ(total, s.num_blocks_used());
}

TEST(SchedulerTest, AddValidatesShapeAndQueue) {
  BlockAllocator blocks(4);
  SchedulerConfig c = Config(8, 4);
  c.max_waiting = 2;
  c.max_context = 20;
  Scheduler s(c, &blocks);
  absl::Status st = s.Add(1, {}, 4);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("prompt_tokens"));
  st = s.Add(1, {1}, 0);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("max_tokens"));
  st = s.Add(1, Range(0, 15), 6);  // 21 > max_context 20
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("context limit of 20"));
  st = s.Add(1, Range(0, 10), 7);  // 17 tokens need 5 blocks of 4, the cache has 4
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("need 5 KV blocks"));
  ASSERT_TRUE(s.Add(1, {1, 2}, 2).ok());
  EXPECT_EQ(s.Add(1, {1, 2}, 2).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(s.Add(2, {1, 2}, 2).ok());
  EXPECT_EQ(s.Add(3, {1, 2}, 2).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.num_waiting(), 2);
}

TEST(SchedulerTest, PrefillThenDecode) {
  BlockAllocator blocks(8);
  Scheduler s(Config(8, 4), &blocks);
  ASSERT_TRUE(s.Add(7, {10, 11, 12, 13, 14}, 4).ok());
  SchedulerOutput out = s.Schedule();
  EXPECT_THAT(out.first_admitted, ElementsAre(7));
  EXPECT_THAT(out.plan.tokens, ElementsAre(10, 11, 12, 13, 14));
  ASSERT_EQ(out.plan.seqs.size(), 1u);
  EXPECT_EQ(out.plan.seqs[0].n_past, 0);
  EXPECT_EQ(out.plan.seqs[0].n_tokens, 5);
  EXPECT_EQ(out.plan.seqs[0].block_table.size(), 2u);  // 5 positions, blocks of 4
  EXPECT_EQ(out.plan.seqs[0].logits, LogitsWanted::kLast);
  s.Update(out.plan, std::vector<int32_t>{99});
  out = s.Schedule();
  EXPECT_THAT(out.first_admitted, IsEmpty());
  EXPECT_THAT(out.plan.tokens, ElementsAre(99));
  EXPECT_EQ(out.plan.seqs[0].n_past, 5);
  EXPECT_EQ(out.plan.seqs[0].block_table.size(), 2u);  // position 5 still in block 2
  s.Update(out.plan, std::vector<int32_t>{98});
  out = s.Schedule();
  EXPECT_THAT(out.plan.tokens, ElementsAre(98));
  EXPECT_EQ(out.plan.seqs[0].n_past, 6);
  EXPECT_EQ(s.Find(7)->num_generated(), 2);
  EXPECT_EQ(s.num_blocks_used(), 2);
}

TEST(SchedulerTest, LongPromptIsPrefilledInChunks) {
  BlockAllocator blocks(8);
  Scheduler s(Config(4, 4), &blocks);
  ASSERT_TRUE(s.Add(1, Range(0, 10), 2).ok());
  SchedulerOutput out = s.Schedule();
  EXPECT_THAT(out.plan.tokens, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(out.plan.seqs[0].logits, LogitsWanted::kNone);
  EXPECT_EQ(out.plan.seqs[0].block_table.size(), 1u);
  s.Update(out.plan, SampleAll(out.plan));
  out = s.Schedule();
  EXPECT_THAT(out.plan.tokens, ElementsAre(4, 5, 6, 7));
  EXPECT_EQ(out.plan.seqs[0].n_past, 4);
  EXPECT_EQ(out.plan.seqs[0].logits, LogitsWanted::kNone);
  s.Update(out.plan, SampleAll(out.plan));
  out = s.Schedule();
  EXPECT_THAT(out.plan.tokens, ElementsAre(8, 9));
  EXPECT_EQ(out.plan.seqs[0].n_past, 8);
  EXPECT_EQ(out.plan.seqs[0].logits, LogitsWanted::kLast);
  EXPECT_EQ(out.plan.seqs[0].block_table.size(), 3u);
  s.Update(out.plan, SampleAll(out.plan));
  EXPECT_THAT(s.Find(1)->tokens.back(), 1001);
  EXPECT_EQ(s.Find(1)->num_computed, 10);
}

TEST(SchedulerTest, ChunkedPrefillInterleavesWithDecodes) {
  BlockAllocator blocks(16);
  Scheduler s(Config(4, 4), &blocks);
  ASSERT_TRUE(s.Add(1, {5}, 10).ok());
  SchedulerOutput out = s.Schedule();
  s.Update(out.plan, SampleAll(out.plan));  // seq 1 now decodes token 1001
  ASSERT_TRUE(s.Add(2, Range(100, 7), 2).ok());
  // Step: seq 1's decode first, then 3 of seq 2's 7 prompt tokens.
  out = s.Schedule();
  EXPECT_THAT(out.first_admitted, ElementsAre(2));
  EXPECT_THAT(out.plan.tokens, ElementsAre(1001, 100, 101, 102));
  ASSERT_EQ(out.plan.seqs.size(), 2u);
  EXPECT_EQ(out.plan.seqs[0].seq_id, 1);
  EXPECT_EQ(out.plan.seqs[0].first_token, 0);
  EXPECT_EQ(out.plan.seqs[0].n_past, 1);
  EXPECT_EQ(out.plan.seqs[1].seq_id, 2);
  EXPECT_EQ(out.plan.seqs[1].first_token, 1);
  EXPECT_EQ(out.plan.seqs[1].n_tokens, 3);
  EXPECT_EQ(out.plan.seqs[1].logits, LogitsWanted::kNone);
  s.Update(out.plan, SampleAll(out.plan));
  out = s.Schedule();
  EXPECT_THAT(out.plan.tokens, ElementsAre(1001, 103, 104, 105));
  EXPECT_EQ(out.plan.seqs[1].n_past, 3);
  s.Update(out.plan, SampleAll(out.plan));
  out = s.Schedule();
  // Seq 2's last prompt token completes its prefill and asks for logits.
  EXPECT_THAT(out.plan.tokens, ElementsAre(1001, 106));
  EXPECT_EQ(out.plan.seqs[1].logits, LogitsWanted::kLast);
  s.Update(out.plan, SampleAll(out.plan));
  out = s.Schedule();
  EXPECT_THAT(out.plan.tokens, ElementsAre(1001, 1002));  // both decode
  EXPECT_EQ(out.plan.seqs[0].n_past, 4);
  EXPECT_EQ(out.plan.seqs[1].n_past, 7);
}

TEST(SchedulerTest, BudgetGoesToDecodesBeforePrefill) {
  BlockAllocator blocks(32);
  Scheduler s(Config(5, 4), &blocks);
  for (int64_t id = 1; id <= 3; ++id) ASSERT_TRUE(s.Add(id, {1, 2}, 8).ok());
  SchedulerOutput out = s.Schedule();  // 2 + 2 + 1 prompt tokens: seq 3 gets one
  EXPECT_EQ(out.plan.n_tokens(), 5);
  ASSERT_EQ(out.plan.seqs.size(), 3u);
  EXPECT_EQ(out.plan.seqs[2].n_tokens, 1);
  s.Update(out.plan, SampleAll(out.plan));
  ASSERT_TRUE(s.Add(4, Range(0, 6), 2).ok());
  out = s.Schedule();
  // Decodes of 1 and 2 first, then seq 3's last prompt token, then 2 of seq 4's prompt.
  ASSERT_EQ(out.plan.seqs.size(), 4u);
  EXPECT_THAT(out.plan.tokens, ElementsAre(1001, 1002, 2, 0, 1));
  EXPECT_EQ(out.plan.seqs[2].seq_id, 3);
  EXPECT_EQ(out.plan.seqs[2].logits, LogitsWanted::kLast);
  EXPECT_EQ(out.plan.seqs[3].seq_id, 4);
  EXPECT_EQ(out.plan.seqs[3].n_tokens, 2);
}

TEST(SchedulerTest, AdmitsInArrivalOrderUpToMaxRunning) {
  BlockAllocator blocks(32);
  Scheduler s(Config(64, 4, /*max_running=*/2), &blocks);
  for (int64_t id = 1; id <= 3; ++id) ASSERT_TRUE(s.Add(id, {1}, 4).ok());
  SchedulerOutput out = s.Schedule();
  EXPECT_THAT(out.first_admitted, ElementsAre(1, 2));
  EXPECT_EQ(s.num_running(), 2);
  EXPECT_EQ(s.num_waiting(), 1);
  EXPECT_EQ(s.num_queued_new(), 1);
  s.Update(out.plan, SampleAll(out.plan));
  s.Finish(1);
  out = s.Schedule();
  EXPECT_THAT(out.first_admitted, ElementsAre(3));
  ASSERT_EQ(out.plan.seqs.size(), 2u);
  EXPECT_EQ(out.plan.seqs[0].seq_id, 2);
  EXPECT_EQ(out.plan.seqs[1].seq_id, 3);
}

TEST(SchedulerTest, WaitingHeadThatDoesNotFitBlocksTheQueue) {
  BlockAllocator blocks(4);
  Scheduler s(Config(64, 2), &blocks);
  ASSERT_TRUE(s.Add(1, Range(0, 5), 1).ok());  // 3 blocks
  ASSERT_TRUE(s.Add(2, Range(0, 4), 1).ok());  // 2 blocks: does not fit beside seq 1
  ASSERT_TRUE(s.Add(3, {1}, 1).ok());          // would fit, but must not overtake seq 2
  SchedulerOutput out = s.Schedule();
  EXPECT_THAT(out.first_admitted, ElementsAre(1));
  EXPECT_EQ(s.num_blocks_used(), 3);
  s.Update(out.plan, SampleAll(out.plan));
  s.Finish(1);
  out = s.Schedule();
  EXPECT_THAT(out.first_admitted, ElementsAre(2, 3));
}

TEST(SchedulerTest, PreemptsNewestAndRecomputesLater) {
  BlockAllocator blocks(4);
  Scheduler s(Config(64, 2), &blocks);
  ASSERT_TRUE(s.Add(1, {10, 11, 12}, 4).ok());  // 2 blocks
  ASSERT_TRUE(s.Add(2, {20, 21, 22}, 4).ok());  // 2 blocks
  SchedulerOutput out = s.Schedule();
  EXPECT_EQ(s.num_blocks_used(), 4);
  s.Update(out.plan, SampleAll(out.plan));  // both decode at position 3 (still 2 blocks)
  out = s.Schedule();
  EXPECT_THAT(out.preempted, IsEmpty());
  s.Update(out.plan, SampleAll(out.plan));
  // Position 4 needs a third block for each: seq 1 (older) preempts seq 2 (newest).
  out = s.Schedule();
  EXPECT_THAT(out.preempted, ElementsAre(2));
  EXPECT_THAT(out.first_admitted, IsEmpty());
  ASSERT_EQ(out.plan.seqs.size(), 1u);
  EXPECT_EQ(out.plan.seqs[0].seq_id, 1);
  EXPECT_EQ(out.plan.seqs[0].block_table.size(), 3u);
  const SequenceState* two = s.Find(2);
  ASSERT_NE(two, nullptr);
  EXPECT_FALSE(two->running);
  EXPECT_EQ(two->num_computed, 0);
  EXPECT_TRUE(two->block_table.empty());
  EXPECT_THAT(two->tokens, ElementsAre(20, 21, 22, 1002, 1002));
  EXPECT_EQ(s.num_preemptions(), 1u);
  EXPECT_EQ(s.num_queued_new(), 0);  // a preempted sequence is not a new arrival
  s.Update(out.plan, SampleAll(out.plan));
  s.Finish(1);
  // Seq 2 comes back and recomputes prompt + generated tokens, then samples its next token.
  out = s.Schedule();
  EXPECT_THAT(out.first_admitted, IsEmpty());
  EXPECT_THAT(out.plan.tokens, ElementsAre(20, 21, 22, 1002, 1002));
  EXPECT_EQ(out.plan.seqs[0].n_past, 0);
  EXPECT_EQ(out.plan.seqs[0].logits, LogitsWanted::kLast);
  s.Update(out.plan, SampleAll(out.plan));
  EXPECT_EQ(s.Find(2)->num_generated(), 3);
}

TEST(SchedulerTest, NewestSequencePreemptsItselfWhenOthersHoldTheBlocks) {
  BlockAllocator blocks(4);
  Scheduler s(Config(64, 2), &blocks);
  ASSERT_TRUE(s.Add(1, {10, 11, 12}, 4).ok());      // 2 blocks; decodes at position 3 fit
  ASSERT_TRUE(s.Add(2, {20, 21, 22, 23}, 4).ok());  // 2 blocks; position 4 needs a third
  SchedulerOutput out = s.Schedule();
  s.Update(out.plan, SampleAll(out.plan));
  out = s.Schedule();
  EXPECT_THAT(out.preempted, ElementsAre(2));
  ASSERT_EQ(out.plan.seqs.size(), 1u);
  EXPECT_EQ(out.plan.seqs[0].seq_id, 1);
  EXPECT_EQ(s.num_blocks_used(), 2);
  EXPECT_EQ(s.num_waiting(), 1);
}

TEST(SchedulerTest, CancelFreesBlocksAtNextSchedule) {
  BlockAllocator blocks(8);
  Scheduler s(Config(64, 4), &blocks);
  ASSERT_TRUE(s.Add(1, Range(0, 6), 4).ok());
  ASSERT_TRUE(s.Add(2, Range(0, 3), 4).ok());
  SchedulerOutput out = s.Schedule();
  s.Update(out.plan, SampleAll(out.plan));
  EXPECT_EQ(s.num_blocks_used(), 3);
  s.Cancel(1);
  s.Cancel(42);  // unknown: ignored
  EXPECT_EQ(s.num_blocks_used(), 3);  // not before the next step
  out = s.Schedule();
  EXPECT_THAT(out.cancelled, ElementsAre(1));
  EXPECT_EQ(s.Find(1), nullptr);
  EXPECT_EQ(s.num_blocks_used(), 1);
  ASSERT_EQ(out.plan.seqs.size(), 1u);
  EXPECT_EQ(out.plan.seqs[0].seq_id, 2);
}

TEST(SchedulerTest, CancelWhileWaitingAndFinishFreeEverything) {
  BlockAllocator blocks(8);
  Scheduler s(Config(64, 4, /*max_running=*/1), &blocks);
  ASSERT_TRUE(s.Add(1, Range(0, 6), 4).ok());
  ASSERT_TRUE(s.Add(2, Range(0, 3), 4).ok());
  SchedulerOutput out = s.Schedule();
  EXPECT_EQ(s.num_queued_new(), 1);
  s.Cancel(2);
  s.Update(out.plan, SampleAll(out.plan));
  out = s.Schedule();
  EXPECT_THAT(out.cancelled, ElementsAre(2));
  EXPECT_EQ(s.num_queued_new(), 0);
  s.Finish(1);
  EXPECT_EQ(s.num_blocks_used(), 0);
  EXPECT_FALSE(s.has_work());
}

TEST(SchedulerTest, UpdateSkipsSequencesFinishedAfterPlanning) {
  BlockAllocator blocks(8);
  Scheduler s(Config(64, 4), &blocks);
  ASSERT_TRUE(s.Add(1, {1, 2}, 4).ok());
  ASSERT_TRUE(s.Add(2, {1, 2}, 4).ok());
  SchedulerOutput out = s.Schedule();
  s.Finish(1);
  s.Update(out.plan, SampleAll(out.plan));
  EXPECT_EQ(s.Find(2)->num_generated(), 1);
  EXPECT_EQ(s.num_blocks_used(), 1);
}

// A model stand-in over a paged "KV cache" of token ids: each planned token is written to its
// slot (block_table[pos / bs] * bs + pos % bs); a sequence's next token is a hash of what its
// block table reads back for positions 0..last. Wrong block tables, positions or recompute
// after preemption change the tokens, which are compared against an unpaged reference.
class PagedSimulation {
 public:
  PagedSimulation(int32_t num_blocks, int32_t block_size) : bs_(block_size), slots_(num_blocks * block_size, -1) {}

  std::vector<int32_t> Run(const StepPlan& plan) {
    std::vector<int32_t> sampled;
    for (const StepSequence& seq : plan.seqs) {
      for (int32_t i = 0; i < seq.n_tokens; ++i) {
        const int32_t pos = seq.n_past + i;
        slots_.at(Slot(seq, pos)) = plan.tokens[seq.first_token + i];
      }
      if (seq.logits == LogitsWanted::kNone) {
        sampled.push_back(Scheduler::kNoToken);
        continue;
      }
      std::vector<int32_t> context;
      for (int32_t pos = 0; pos < seq.n_past + seq.n_tokens; ++pos) context.push_back(slots_.at(Slot(seq, pos)));
      sampled.push_back(Next(context));
    }
    return sampled;
  }

  static int32_t Next(const std::vector<int32_t>& context) {
    uint32_t h = 2166136261u;
    for (int32_t t : context) h = (h ^ static_cast<uint32_t>(t)) * 16777619u;
    return static_cast<int32_t>(h % 50000u);
  }

 private:
  int32_t Slot(const StepSequence& seq, int32_t pos) const {
    return seq.block_table.at(pos / bs_) * bs_ + pos % bs_;
  }
  int32_t bs_;
  std::vector<int32_t> slots_;
};

std::vector<int32_t> ReferenceGeneration(std::vector<int32_t> tokens, int32_t max_tokens) {
  for (int32_t i = 0; i < max_tokens; ++i) tokens.push_back(PagedSimulation::Next(tokens));
  return tokens;
}

TEST(SchedulerTest, RandomWorkloadMatchesReferenceAndNeverLeaks) {
  uint64_t preemptions = 0;
  int finished = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    const int32_t block_size = 1 + static_cast<int32_t>(rng() % 4);
    const int32_t num_blocks = 12 + static_cast<int32_t>(rng() % 12);
    BlockAllocator blocks(num_blocks);
    SchedulerConfig c;
    c.block_size = block_size;
    c.step_token_budget = 1 + static_cast<int32_t>(rng() % 16);
    c.max_running = 1 + static_cast<int32_t>(rng() % 6);
    c.max_waiting = 64;
    c.max_context = block_size * num_blocks;
    Scheduler s(c, &blocks);
    PagedSimulation sim(num_blocks, block_size);
    std::map<int64_t, std::vector<int32_t>> expected;
    std::vector<int64_t> ids;
    std::set<int64_t> cancelled;
    int64_t next_id = 1;
    for (int step = 0; step < 400 && (next_id <= 30 || s.has_work()); ++step) {
      if (next_id <= 30 && rng() % 3 == 0) {
        const int32_t prompt_len = 1 + static_cast<int32_t>(rng() % 20);
        const int32_t max_tokens = 1 + static_cast<int32_t>(rng() % 12);
        std::vector<int32_t> prompt(prompt_len);
        for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % 1000);
        if (s.CheckFits(prompt_len, max_tokens).ok()) {
          ASSERT_TRUE(s.Add(next_id, prompt, max_tokens).ok());
          expected[next_id] = ReferenceGeneration(prompt, max_tokens);
          ids.push_back(next_id);
        }
        ++next_id;
      }
      if (!ids.empty() && rng() % 25 == 0) {
        const int64_t victim = ids[rng() % ids.size()];
        if (s.Find(victim) != nullptr) {
          s.Cancel(victim);
          cancelled.insert(victim);
        }
      }
      SchedulerOutput out = s.Schedule();
      ASSERT_LE(out.plan.n_tokens(), c.step_token_budget);
      if (s.has_work()) {
        ASSERT_FALSE(out.plan.seqs.empty()) << "no progress at step " << step;
      }
      std::set<int32_t> step_blocks;
      for (const StepSequence& seq : out.plan.seqs) {
        ASSERT_GE(int64_t{static_cast<int32_t>(seq.block_table.size())} * block_size, seq.n_past + seq.n_tokens);
        for (int32_t b : seq.block_table) ASSERT_TRUE(step_blocks.insert(b).second);
      }
      s.Update(out.plan, sim.Run(out.plan));
      for (const StepSequence& seq : out.plan.seqs) {
        const SequenceState* st = s.Find(seq.seq_id);
        if (st != nullptr && st->num_generated() == st->max_tokens) {
          EXPECT_EQ(st->tokens, expected[st->id]) << "sequence " << st->id;
          s.Finish(st->id);
          ++finished;
        }
      }
      ExpectBlocksConsistent(s, ids);
    }
    EXPECT_FALSE(s.has_work());
    EXPECT_EQ(s.num_blocks_used(), 0);
    preemptions += s.num_preemptions();
  }
  // The workload must actually exercise preemption and recompute to mean anything.
  EXPECT_GT(preemptions, 20u);
  EXPECT_GT(finished, 300);
  std::printf("random workload: %d sequences finished, %llu preemptions\n", finished,
              static_cast<unsigned long long>(preemptions));
}

}  // namespace
}  // namespace hobbit::runtime
