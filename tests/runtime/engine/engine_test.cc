// Engine tests with a deterministic FakeStepExecutor: continuous batching equivalence (with
// preemption), cancellation, finish reasons, queue limits, drain, validation, executor errors,
// heartbeat and statistics.
#include "runtime/engine/engine.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/engine/engine_parts.h"
#include "tests/runtime/engine/engine_test_util.h"
#include "tests/runtime/engine/fake_step_executor.h"

namespace hobbit::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int32_t kVocab = 64;
constexpr int32_t kContext = 256;

EngineOptions SmallOptions() {
  EngineOptions o;
  o.scheduler.max_running = 16;
  o.scheduler.max_waiting = 64;
  o.scheduler.step_token_budget = 32;
  o.scheduler.max_tokens_limit = 200;
  o.scheduler.max_stop_strings = 2;
  o.scheduler.max_stop_string_bytes = 8;
  o.kv.block_size = 4;
  return o;
}

struct TestEngine {
  std::unique_ptr<Engine> engine;
  FakeStepExecutor* fake = nullptr;  // owned by the engine
};

TestEngine MakeEngine(FakeStepExecutor::Mode mode, const EngineOptions& options, int32_t num_blocks,
                      const std::function<void(FakeStepExecutor*)>& setup = {}) {
  EngineParts parts;
  auto fake = std::make_unique<FakeStepExecutor>(mode, kVocab, num_blocks, options.kv.block_size);
  TestEngine t;
  t.fake = fake.get();
  if (setup) setup(t.fake);
  parts.executor = std::move(fake);
  parts.tokenizer = MakeTestTokenizer();
  parts.model_config.n_vocab = kVocab;
  parts.model_config.n_ctx_train = kContext;
  parts.num_kv_blocks = num_blocks;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::CreateFromParts(options, std::move(parts));
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (engine.ok()) t.engine = std::move(*engine);
  return t;
}

GenerateRequest Greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerateRequest r;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  return r;
}

RequestId MustSubmit(Engine& engine, GenerateRequest r, EventRecorder& rec) {
  absl::StatusOr<RequestId> id = engine.Submit(std::move(r), rec.Sink());
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *id : 0;
}

// Waits until the engine has published `pred` (stats are published once per loop iteration).
bool WaitForStats(const Engine& engine, const std::function<bool(const EngineStats&)>& pred) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (pred(engine.GetStats())) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return false;
}

// 16 requests of varied prompts, lengths and sampling settings.
std::vector<GenerateRequest> MixedRequests() {
  std::mt19937 rng(7);
  std::vector<GenerateRequest> out;
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> prompt(1 + rng() % 40);
    for (int32_t& t : prompt) t = 3 + static_cast<int32_t>(rng() % (kVocab - 3));
    GenerateRequest r = Greedy(prompt, 5 + static_cast<int32_t>(rng() % 36));
    if (i % 4 == 3) {  // seeded sampling must be just as reproducible
      r.sampling.temperature = 0.8f;
      r.sampling.seed = 1000 + i;
      r.sampling.repetition_penalty = 1.1f;
    }
    out.push_back(std::move(r));
  }
  return out;
}

TEST(EngineTest, ConcurrentRequestsMatchRunningAlone) {
  EngineOptions options = SmallOptions();
  // 40 blocks of 4 tokens hold 160 tokens: 16 sequences of up to 80 tokens must preempt.
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kContextHash, options, 40);
  const std::vector<GenerateRequest> requests = MixedRequests();
  EventRecorder alone_rec;
  std::vector<RequestResult> alone;
  for (const GenerateRequest& r : requests) {
    alone.push_back(alone_rec.WaitFinal(MustSubmit(*t.engine, r, alone_rec)));
  }
  EXPECT_EQ(t.engine->GetStats().preemptions, 0u);
  EventRecorder rec;
  std::vector<RequestId> ids;
  // Held at the gate, the first step cannot finish anything before all 16 are queued.
  t.fake->CloseGate();
  for (const GenerateRequest& r : requests) ids.push_back(MustSubmit(*t.engine, r, rec));
  t.fake->OpenGate();
  for (size_t i = 0; i < ids.size(); ++i) {
    RequestResult got = rec.WaitFinal(ids[i]);
    SCOPED_TRACE(i);
    EXPECT_EQ(got.final.reason, alone[i].final.reason);
    EXPECT_EQ(got.tokens, alone[i].tokens);
    EXPECT_EQ(got.text, alone[i].text);
    if (requests[i].sampling.temperature == 0.0f) {  // sampled ones may draw the EOS id
      EXPECT_EQ(got.final.reason, FinishReason::kLength);
      EXPECT_EQ(static_cast<int32_t>(got.tokens.size()), requests[i].max_tokens);
    }
    EXPECT_EQ(got.finals, 1);
    EXPECT_EQ(got.events_after_final, 0);
  }
  const EngineStats stats = t.engine->GetStats();
  EXPECT_GT(stats.preemptions, 0u) << "the workload was meant to exhaust the KV cache";
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running, 0);
  EXPECT_EQ(stats.waiting, 0);
  EXPECT_EQ(stats.requests_finished, 32u);
}

TEST(EngineTest, MaxTokensFinishesWithLengthAndText) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  RequestResult r = rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('a')}, 5), rec));
  EXPECT_EQ(r.final.reason, FinishReason::kLength);
  EXPECT_THAT(r.tokens, ElementsAre(Letter('b'), Letter('c'), Letter('d'), Letter('e'), Letter('f')));
  EXPECT_EQ(r.text, "bcdef");
  EXPECT_EQ(r.final.prompt_tokens, 1);
  EXPECT_EQ(r.final.generated_tokens, 5);
  EXPECT_EQ(r.chunks, 5);  // one chunk per decode step
  EXPECT_LE(r.final.queue_time, r.final.time_to_first_token);
  EXPECT_LE(r.final.time_to_first_token, r.final.total_time);
  EXPECT_GT(r.final.total_time, absl::ZeroDuration());
}

TEST(EngineTest, StopStringCutsTheText) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  GenerateRequest req = Greedy({Letter('c')}, 20);
  req.stop_strings = {"gh", "zz"};
  RequestResult r = rec.WaitFinal(MustSubmit(*t.engine, req, rec));
  EXPECT_EQ(r.final.reason, FinishReason::kStop);
  EXPECT_EQ(r.text, "def");  // "g" was held back, then "gh" matched: neither is sent
  EXPECT_THAT(r.tokens, ElementsAre(Letter('d'), Letter('e'), Letter('f'), Letter('g'), Letter('h')));
  EXPECT_EQ(r.final.generated_tokens, 5);
}

TEST(EngineTest, HeldBackTextIsFlushedWhenNoStopStringFollows) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  GenerateRequest req = Greedy({Letter('c')}, 4);
  req.stop_strings = {"gx"};  // "g" is held back at the last token, then flushed at LENGTH
  RequestResult r = rec.WaitFinal(MustSubmit(*t.engine, req, rec));
  EXPECT_EQ(r.final.reason, FinishReason::kLength);
  EXPECT_EQ(r.text, "defg");
}

TEST(EngineTest, StopTokenIdEndsBeforeItsText) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  GenerateRequest req = Greedy({Letter('c')}, 20);
  req.stop_token_ids = {Letter('g')};
  RequestResult r = rec.WaitFinal(MustSubmit(*t.engine, req, rec));
  EXPECT_EQ(r.final.reason, FinishReason::kStop);
  EXPECT_EQ(r.text, "def");
  EXPECT_THAT(r.tokens, ElementsAre(Letter('d'), Letter('e'), Letter('f'), Letter('g')));
}

TEST(EngineTest, EndOfGenerationStopsUnlessIgnored) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  // 60 "U" -> 61 "V", 62 "W", 63 "X", then wraps to 0 <unk>, 1 <s> (neither has text) and
  // 2 </s>, the end of generation.
  RequestResult r = rec.WaitFinal(MustSubmit(*t.engine, Greedy({60}, 20), rec));
  EXPECT_EQ(r.final.reason, FinishReason::kStop);
  EXPECT_THAT(r.tokens, ElementsAre(61, 62, 63, 0, 1, 2));
  EXPECT_EQ(r.text, "VWX");
  GenerateRequest req = Greedy({60}, 8);
  req.ignore_eos = true;
  r = rec.WaitFinal(MustSubmit(*t.engine, req, rec));
  EXPECT_EQ(r.final.reason, FinishReason::kLength);
  EXPECT_THAT(r.tokens, ElementsAre(61, 62, 63, 0, 1, 2, 3, 4));
}

TEST(EngineTest, LogprobsAreReportedPerToken) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  GenerateRequest req = Greedy({Letter('a')}, 3);
  req.top_logprobs = 2;
  RequestResult r = rec.WaitFinal(MustSubmit(*t.engine, req, rec));
  ASSERT_EQ(r.logprobs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.logprobs[i].token, r.tokens[i]);
    ASSERT_EQ(r.logprobs[i].top.size(), 2u);
    EXPECT_EQ(r.logprobs[i].top[0].first, r.tokens[i]);
    EXPECT_FLOAT_EQ(r.logprobs[i].top[0].second, r.logprobs[i].logprob);
    EXPECT_LT(r.logprobs[i].logprob, 0.0f);
  }
  // Without top_logprobs there are none.
  r = rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('a')}, 3), rec));
  EXPECT_TRUE(r.logprobs.empty());
}

TEST(EngineTest, CancelFromTheSinkStopsAtTheNextStep) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  Engine* engine = t.engine.get();
  // Cancels from inside the sink (the engine thread) after the third token.
  EventSink sink = [&rec, engine, tokens = 0](GenerateEvent&& e) mutable {
    if (!e.is_final && (tokens += static_cast<int>(e.chunk.tokens.size())) == 3) engine->Cancel(e.id);
    rec.Record(std::move(e));
  };
  absl::StatusOr<RequestId> id = engine->Submit(Greedy({Letter('a')}, 100), sink);
  ASSERT_TRUE(id.ok());
  RequestResult r = rec.WaitFinal(*id);
  EXPECT_EQ(r.final.reason, FinishReason::kCancelled);
  EXPECT_EQ(r.final.generated_tokens, 3);
  EXPECT_EQ(r.tokens.size(), 3u);
  const EngineStats stats = engine->GetStats();
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running, 0);
}

TEST(EngineTest, CancelMidStreamFreesKvBlocksByTheNextStep) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64,
                            [](FakeStepExecutor* f) { f->set_step_delay(absl::Milliseconds(2)); });
  EventRecorder rec;
  const RequestId keep = MustSubmit(*t.engine, Greedy({Letter('a')}, 30), rec);
  const RequestId victim = MustSubmit(*t.engine, Greedy(std::vector<int32_t>(9, Letter('b')), 150), rec);
  rec.WaitChunks(victim, 2);
  ASSERT_TRUE(WaitForStats(*t.engine, [](const EngineStats& s) { return s.kv_blocks_used >= 4; }));
  const uint64_t steps_at_cancel = t.engine->GetStats().steps;
  t.engine->Cancel(victim);
  RequestResult r = rec.WaitFinal(victim);
  EXPECT_EQ(r.final.reason, FinishReason::kCancelled);
  EXPECT_LT(r.final.generated_tokens, 150);
  // The final event comes after the step that freed the blocks was published: the survivor
  // (1 + generated tokens, blocks of 4) is all that is left.
  const EngineStats stats = t.engine->GetStats();
  EXPECT_LE(stats.steps, steps_at_cancel + 2);
  EXPECT_EQ(stats.running, 1);
  EXPECT_LE(stats.kv_blocks_used, (1 + 30 + 3) / 4);
  RequestResult k = rec.WaitFinal(keep);
  EXPECT_EQ(k.final.reason, FinishReason::kLength);
  EXPECT_EQ(t.engine->GetStats().kv_blocks_used, 0);
  t.engine->Cancel(victim);  // finished ids are ignored
  t.engine->Cancel(12345);   // unknown ids too
}

TEST(EngineTest, CancelWhileWaitingEndsWithoutTokens) {
  EngineOptions options = SmallOptions();
  options.scheduler.max_running = 1;
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, options, 64);
  t.fake->CloseGate();
  EventRecorder rec;
  const RequestId first = MustSubmit(*t.engine, Greedy({Letter('a')}, 3), rec);
  t.fake->WaitUntilEntered(1);
  const RequestId queued = MustSubmit(*t.engine, Greedy({Letter('a')}, 3), rec);
  t.engine->Cancel(queued);
  t.fake->OpenGate();
  RequestResult q = rec.WaitFinal(queued);
  EXPECT_EQ(q.final.reason, FinishReason::kCancelled);
  EXPECT_EQ(q.final.generated_tokens, 0);
  EXPECT_EQ(q.chunks, 0);
  EXPECT_EQ(rec.WaitFinal(first).final.reason, FinishReason::kLength);
}

TEST(EngineTest, FullQueueIsResourceExhaustedAtOnce) {
  EngineOptions options = SmallOptions();
  options.scheduler.max_running = 1;
  options.scheduler.max_waiting = 2;
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, options, 64);
  t.fake->CloseGate();
  EventRecorder rec;
  const RequestId a = MustSubmit(*t.engine, Greedy({Letter('a')}, 2), rec);
  t.fake->WaitUntilEntered(1);  // a is running (held in its first step)
  const RequestId b = MustSubmit(*t.engine, Greedy({Letter('a')}, 2), rec);
  const RequestId c = MustSubmit(*t.engine, Greedy({Letter('a')}, 2), rec);
  const absl::Time before = absl::Now();
  absl::StatusOr<RequestId> d = t.engine->Submit(Greedy({Letter('a')}, 2), rec.Sink());
  EXPECT_LT(absl::Now() - before, absl::Seconds(1));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(d.status().message(), HasSubstr("waiting queue is full"));
  EXPECT_EQ(t.engine->GetStats().waiting, 2);
  t.fake->OpenGate();
  for (RequestId id : {a, b, c}) EXPECT_EQ(rec.WaitFinal(id).final.reason, FinishReason::kLength);
  // Room again once they were admitted.
  EXPECT_EQ(rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('a')}, 2), rec)).final.reason,
            FinishReason::kLength);
}

TEST(EngineTest, DrainEndsEveryRequestWithAFinalEvent) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 256,
                            [](FakeStepExecutor* f) { f->set_step_delay(absl::Milliseconds(3)); });
  EventRecorder rec;
  std::vector<RequestId> ids;
  // Even requests need 4 steps (~12 ms); odd ones 151 steps of at least 3 ms, past the deadline.
  for (int i = 0; i < 8; ++i) {
    GenerateRequest r = Greedy({Letter('a')}, i % 2 == 0 ? 3 : 150);
    r.ignore_eos = true;  // the successor sequence wraps around to </s> after 62 tokens
    ids.push_back(MustSubmit(*t.engine, std::move(r), rec));
  }
  t.engine->Drain(absl::Now() + absl::Milliseconds(300));
  int aborted = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    RequestResult r = rec.WaitFinal(ids[i], absl::Milliseconds(1));
    EXPECT_EQ(r.finals, 1) << "request " << ids[i];
    EXPECT_EQ(r.final.reason, i % 2 == 0 ? FinishReason::kLength : FinishReason::kAborted) << "request " << ids[i];
    if (r.final.reason == FinishReason::kAborted) {
      ++aborted;
      EXPECT_THAT(r.final.message, HasSubstr("drain"));
      EXPECT_GT(r.final.generated_tokens, 0);
    }
  }
  EXPECT_EQ(aborted, 4);
  absl::StatusOr<RequestId> late = t.engine->Submit(Greedy({Letter('a')}, 2), rec.Sink());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(t.engine->GetStats().kv_blocks_used, 0);
}

TEST(EngineTest, DrainWithTimeLeftLetsRequestsFinish) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  std::vector<RequestId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(MustSubmit(*t.engine, Greedy({Letter('a')}, 10), rec));
  t.engine->Drain(absl::Now() + absl::Seconds(60));
  for (RequestId id : ids) EXPECT_EQ(rec.WaitFinal(id, absl::Milliseconds(1)).final.reason, FinishReason::kLength);
}

TEST(EngineTest, DestructorAbortsWhatIsLeft) {
  EventRecorder rec;
  RequestId id = 0;
  {
    TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64,
                              [](FakeStepExecutor* f) { f->set_step_delay(absl::Milliseconds(2)); });
    GenerateRequest r = Greedy({Letter('a')}, 150);
    r.ignore_eos = true;
    id = MustSubmit(*t.engine, std::move(r), rec);
    rec.WaitChunks(id, 1);
  }
  RequestResult r = rec.WaitFinal(id, absl::Milliseconds(1));
  EXPECT_EQ(r.final.reason, FinishReason::kAborted);
  EXPECT_EQ(r.finals, 1);
}

TEST(EngineTest, ExecutorErrorFailsTheStepAndTheEngineKeepsServing) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64,
                            [](FakeStepExecutor* f) { f->set_poison_token(Letter('z')); });
  EventRecorder rec;
  RequestResult bad = rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('z')}, 5), rec));
  EXPECT_EQ(bad.final.reason, FinishReason::kError);
  EXPECT_THAT(bad.final.message, HasSubstr("poison token"));
  // A sequence that reaches the poison token mid-stream fails there.
  RequestResult later = rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('w')}, 10), rec));
  EXPECT_EQ(later.final.reason, FinishReason::kError);
  EXPECT_EQ(later.final.generated_tokens, 3);  // x, y, z sampled; z fails the next step
  RequestResult good = rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('a')}, 4), rec));
  EXPECT_EQ(good.final.reason, FinishReason::kLength);
  EXPECT_EQ(good.text, "bcde");
  EXPECT_EQ(t.engine->GetStats().kv_blocks_used, 0);
}

TEST(EngineTest, HeartbeatBeatsWhileIdle) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  std::atomic<int> beats{0};
  t.engine->SetHeartbeat([&beats] { ++beats; });
  absl::SleepFor(absl::Milliseconds(2100));
  EXPECT_GE(beats.load(), 2);
  t.engine->SetHeartbeat(nullptr);
}

TEST(EngineTest, StatsCountRequestsAndTokens) {
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 64);
  EventRecorder rec;
  rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('a'), Letter('b')}, 3), rec));
  rec.WaitFinal(MustSubmit(*t.engine, Greedy({Letter('a')}, 4), rec));
  const EngineStats s = t.engine->GetStats();
  EXPECT_EQ(s.requests_finished, 2u);
  EXPECT_EQ(s.prompt_tokens_total, 3u);
  EXPECT_EQ(s.generated_tokens_total, 7u);
  EXPECT_EQ(s.kv_blocks_total, 64);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_GE(s.steps, 4u);
}

struct BadRequestCase {
  std::string name;
  std::function<void(GenerateRequest*)> mutate;
  std::string field;  // the message must name it
};

TEST(EngineTest, InvalidRequestsNameTheField) {
  // 40 blocks of 4: the cache holds 160 tokens, less than the 256-token context.
  TestEngine t = MakeEngine(FakeStepExecutor::Mode::kSuccessor, SmallOptions(), 40);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<BadRequestCase> cases = {
      {"empty prompt", [](GenerateRequest* r) { r->prompt_tokens.clear(); }, "prompt_tokens: empty"},
      {"negative token", [](GenerateRequest* r) { r->prompt_tokens = {-1}; }, "prompt_tokens[0]"},
      {"token past vocab", [](GenerateRequest* r) { r->prompt_tokens = {3, kVocab}; }, "prompt_tokens[1]"},
      {"max_tokens 0", [](GenerateRequest* r) { r->max_tokens = 0; }, "max_tokens: 0 is out of range [1, 200]"},
      {"max_tokens negative", [](GenerateRequest* r) { r->max_tokens = -5; }, "max_tokens"},
      {"max_tokens huge", [](GenerateRequest* r) { r->max_tokens = 201; }, "max_tokens: 201"},
      {"prompt fills context", [](GenerateRequest* r) { r->prompt_tokens.assign(kContext, 3); }, "prompt_tokens: 256"},
      {"prompt + max_tokens past context",
       [](GenerateRequest* r) {
         r->prompt_tokens.assign(200, 3);
         r->max_tokens = 100;
       },
       "max_tokens: 100 with 200 prompt tokens"},
      {"larger than the KV cache",
       [](GenerateRequest* r) {
         r->prompt_tokens.assign(100, 3);
         r->max_tokens = 90;
       },
       "KV blocks"},
      {"temperature negative", [](GenerateRequest* r) { r->sampling.temperature = -1; }, "temperature"},
      {"temperature NaN", [nan](GenerateRequest* r) { r->sampling.temperature = nan; }, "temperature"},
      {"top_p 0", [](GenerateRequest* r) { r->sampling.top_p = 0; }, "top_p"},
      {"top_p above 1", [](GenerateRequest* r) { r->sampling.top_p = 1.5f; }, "top_p"},
      {"top_k negative", [](GenerateRequest* r) { r->sampling.top_k = -1; }, "top_k"},
      {"min_p 1", [](GenerateRequest* r) { r->sampling.min_p = 1; }, "min_p"},
      {"repetition_penalty 0", [](GenerateRequest* r) { r->sampling.repetition_penalty = 0; }, "repetition_penalty"},
      {"presence_penalty inf", [inf](GenerateRequest* r) { r->sampling.presence_penalty = inf; }, "presence_penalty"},
      {"frequency_penalty NaN", [nan](GenerateRequest* r) { r->sampling.frequency_penalty = nan; }, "frequency_penalty"},
      {"penalty_last_n -2", [](GenerateRequest* r) { r->sampling.penalty_last_n = -2; }, "penalty_last_n"},
      {"too many stop strings", [](GenerateRequest* r) { r->stop_strings = {"a", "b", "c"}; }, "stop_strings: 3 strings, at most 2"},
      {"empty stop string", [](GenerateRequest* r) { r->stop_strings = {"ok", ""}; }, "stop_strings[1]: empty"},
      {"long stop string", [](GenerateRequest* r) { r->stop_strings = {"123456789"}; }, "stop_strings[0]: 9 bytes, at most 8"},
      {"stop string not UTF-8", [](GenerateRequest* r) { r->stop_strings = {"a\xff"}; }, "stop_strings[0]: not valid UTF-8"},
      {"stop id past vocab", [](GenerateRequest* r) { r->stop_token_ids = {5, kVocab}; }, "stop_token_ids[1]"},
      {"stop id negative", [](GenerateRequest* r) { r->stop_token_ids = {-3}; }, "stop_token_ids[0]"},
      {"top_logprobs 21", [](GenerateRequest* r) { r->top_logprobs = 21; }, "top_logprobs: 21 is out of range [0, 20]"},
      {"top_logprobs negative", [](GenerateRequest* r) { r->top_logprobs = -1; }, "top_logprobs"},
  };
  EventRecorder rec;
  for (const BadRequestCase& c : cases) {
    GenerateRequest r = Greedy({Letter('a')}, 4);
    c.mutate(&r);
    absl::StatusOr<RequestId> id = t.engine->Submit(std::move(r), rec.Sink());
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(id.status().message(), HasSubstr(c.field)) << c.name;
  }
  absl::StatusOr<RequestId> no_sink = t.engine->Submit(Greedy({Letter('a')}, 4), nullptr);
  EXPECT_EQ(no_sink.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_sink.status().message(), HasSubstr("sink"));
  // Still serving, and the largest request that fits is accepted.
  EXPECT_EQ(rec.WaitFinal(MustSubmit(*t.engine, Greedy(std::vector<int32_t>(100, 3), 60), rec)).final.reason,
            FinishReason::kLength);
}

TEST(EngineTest, CreateFromPartsChecksOptions) {
  EngineOptions options = SmallOptions();
  options.scheduler.max_context = kContext + 1;
  EngineParts parts;
  parts.executor = std::make_unique<FakeStepExecutor>(FakeStepExecutor::Mode::kSuccessor, kVocab, 8, 4);
  parts.tokenizer = MakeTestTokenizer();
  parts.model_config.n_vocab = kVocab;
  parts.model_config.n_ctx_train = kContext;
  parts.num_kv_blocks = 8;
  absl::StatusOr<std::unique_ptr<Engine>> e = Engine::CreateFromParts(options, std::move(parts));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("scheduler.max_context"));
  options = SmallOptions();
  options.scheduler.step_token_budget = 0;
  EngineParts parts2;
  parts2.executor = std::make_unique<FakeStepExecutor>(FakeStepExecutor::Mode::kSuccessor, kVocab, 8, 4);
  parts2.tokenizer = MakeTestTokenizer();
  parts2.model_config.n_vocab = kVocab;
  parts2.model_config.n_ctx_train = kContext;
  parts2.num_kv_blocks = 8;
  e = Engine::CreateFromParts(options, std::move(parts2));
  EXPECT_THAT(e.status().message(), HasSubstr("scheduler.step_token_budget"));
}

}  // namespace
}  // namespace hobbit::runtime
