// Scheduler: continuous batching of token steps over all live sequences, with chunked prefill
// under a per-step token budget and paged-KV block accounting. Pure CPU logic: no model here.
//
//   BlockAllocator blocks(num_blocks);
//   Scheduler scheduler(config, &blocks);
//   HOBBIT_RETURN_IF_ERROR(scheduler.Add(id, prompt, max_tokens));
//   while (scheduler.has_work()) {
//     SchedulerOutput out = scheduler.Schedule();          // the StepPlan for the model
//     ... run out.plan, sample one token per sequence whose logits were asked for ...
//     scheduler.Update(out.plan, sampled);                 // kNoToken for the others
//     for (finished id) scheduler.Finish(id);
//   }
//
// Policy, per step (the shape of vLLM v1's scheduler):
//  1. Cancelled sequences are removed and their blocks freed.
//  2. Token budget: one decode token for every running sequence that has one (oldest first),
//     then prefill chunks (or recompute chunks) of the running sequences that still have
//     unseen tokens (oldest first), each as large as the remaining budget allows.
//  3. KV blocks for the chosen tokens, oldest sequence first. When the pool is empty the newest
//     running sequence is preempted: its blocks are freed, it goes back to the head of the
//     waiting queue and later recomputes its prompt and generated tokens. The oldest running
//     sequence therefore always progresses (it fits the cache alone: Add checks that), so the
//     scheduler never deadlocks.
//  4. If nothing was preempted, waiting sequences are admitted in arrival order while the
//     budget, max_running and free blocks allow (no preemption on behalf of a newcomer, and no
//     overtaking: a head that does not fit blocks the ones behind it).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "runtime/kv/block_allocator.h"
#include "runtime/scheduler/scheduler_output.h"
#include "runtime/scheduler/sequence_state.h"

namespace hobbit::runtime {

struct SchedulerConfig {
  int32_t max_running = 16;        // sequences in the running set at once
  int32_t max_waiting = 64;        // never-admitted sequences queued; Add says ResourceExhausted
  int32_t step_token_budget = 256; // tokens per step, decode and prefill together
  int32_t max_context = 4096;      // prompt + max_tokens per sequence
  int32_t block_size = 16;         // tokens per KV block
};

// Not thread-safe: owned and driven by the engine thread. `allocator` is not owned and must
// outlive the scheduler; the scheduler is its only user while it lives.
class Scheduler {
 public:
  static constexpr int32_t kNoToken = -1;

  // REQUIRES: every limit in `config` >= 1.
  Scheduler(const SchedulerConfig& config, BlockAllocator* allocator);
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Whether a sequence of this shape could ever run: InvalidArgument naming the field when the
  // prompt is empty, prompt + max_tokens exceeds max_context, or the sequence alone needs more
  // KV blocks than the whole cache has.
  absl::Status CheckFits(int32_t num_prompt_tokens, int32_t max_tokens) const {
    return CheckFits(config_, allocator_->num_total(), num_prompt_tokens, max_tokens);
  }
  // The same check for a scheduler with `config` over `num_kv_blocks` blocks; callable from any
  // thread (the engine validates requests with it before they reach the engine thread).
  static absl::Status CheckFits(const SchedulerConfig& config, int32_t num_kv_blocks,
                                int32_t num_prompt_tokens, int32_t max_tokens);

  // Queues a new sequence at the tail of the waiting queue. CheckFits errors; ResourceExhausted
  // when max_waiting never-admitted sequences already wait; AlreadyExists for a live id.
  absl::Status Add(int64_t id, std::vector<int32_t> prompt_tokens, int32_t max_tokens);

  // Marks a live sequence cancelled; the next Schedule removes it and frees its blocks.
  // Unknown ids are ignored.
  void Cancel(int64_t id);

  // Removes a sequence now (finished, failed or aborted) and frees its blocks. Unknown ids are
  // ignored.
  void Finish(int64_t id);

  // Plans the next step (see the policy above).
  SchedulerOutput Schedule();

  // Records a step's execution: every planned sequence's tokens are now in the KV cache, and
  // each sequence that asked for logits gets its sampled token appended. `sampled` has one
  // entry per plan.seqs entry (kNoToken where no logits were asked for). Sequences finished
  // since the plan was made are skipped.
  void Update(const StepPlan& plan, std::span<const int32_t> sampled);

  // The live sequence, or null.
  const SequenceState* Find(int64_t id) const;

  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t num_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  // Waiting sequences that were never admitted (preempted ones excluded).
  int32_t num_queued_new() const { return num_queued_new_; }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  int32_t num_blocks_used() const { return allocator_->num_total() - allocator_->num_free(); }
  int32_t num_blocks_total() const { return allocator_->num_total(); }
  uint64_t num_preemptions() const { return num_preemptions_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  int32_t BlocksFor(int32_t num_tokens) const;
  void RemoveCancelled(SchedulerOutput* out);
  // Chooses how many tokens each running sequence runs this step; returns the unused budget.
  int32_t PickRunningTokens(absl::flat_hash_map<SequenceState*, int32_t>* picks) const;
  // Gives every picked sequence the blocks its tokens need, preempting the newest running
  // sequences while the pool is short.
  void AllocatePicked(absl::flat_hash_map<SequenceState*, int32_t>* picks, SchedulerOutput* out);
  // Moves waiting sequences into the running set while budget, max_running and blocks allow.
  void AdmitWaiting(int32_t budget, absl::flat_hash_map<SequenceState*, int32_t>* picks,
                    SchedulerOutput* out);
  // Grows seq's block table to cover `num_positions` positions; false (nothing taken) if short.
  bool GrowBlocks(SequenceState* seq, int32_t num_positions);
  void Preempt(SequenceState* seq);
  void ReleaseBlocks(SequenceState* seq);
  void BuildPlan(const absl::flat_hash_map<SequenceState*, int32_t>& picks, StepPlan* plan) const;

  const SchedulerConfig config_;
  BlockAllocator* const allocator_;
  absl::flat_hash_map<int64_t, std::unique_ptr<SequenceState>> seqs_;
  std::deque<SequenceState*> waiting_;  // head first; preempted sequences re-enter at the head
  std::vector<SequenceState*> running_;  // oldest admission first
  int32_t num_queued_new_ = 0;
  uint64_t num_preemptions_ = 0;
};

}  // namespace hobbit::runtime
