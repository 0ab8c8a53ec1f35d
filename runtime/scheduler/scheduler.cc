#include "runtime/scheduler/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_format.h"

namespace hobbit::runtime {

Scheduler::Scheduler(const SchedulerConfig& config, BlockAllocator* allocator)
    : config_(config), allocator_(allocator) {
  ABSL_RAW_CHECK(allocator_ != nullptr, "Scheduler needs a BlockAllocator");
  ABSL_RAW_CHECK(config_.max_running >= 1 && config_.max_waiting >= 1 && config_.step_token_budget >= 1 &&
                     config_.max_context >= 1 && config_.block_size >= 1,
                 "every SchedulerConfig limit must be >= 1");
}

Scheduler::~Scheduler() {
  // Hand every block back so the allocator, which may outlive us, is consistent.
  for (auto& [id, seq] : seqs_) ReleaseBlocks(seq.get());
}

int32_t Scheduler::BlocksFor(int32_t num_tokens) const {
  return (num_tokens + config_.block_size - 1) / config_.block_size;
}

absl::Status Scheduler::CheckFits(const SchedulerConfig& config, int32_t num_kv_blocks,
                                  int32_t num_prompt_tokens, int32_t max_tokens) {
  if (num_prompt_tokens < 1) {
    return absl::InvalidArgumentError("prompt_tokens: empty; at least 1 token is required");
  }
  if (max_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max_tokens: %d is out of range [1, %d]", max_tokens, config.max_context));
  }
  const int64_t total = int64_t{num_prompt_tokens} + max_tokens;
  if (total > config.max_context) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "prompt_tokens + max_tokens: %d + %d = %d exceeds the context limit of %d tokens",
        num_prompt_tokens, max_tokens, total, config.max_context));
  }
  const int64_t blocks = (total + config.block_size - 1) / config.block_size;
  if (blocks > num_kv_blocks) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "prompt_tokens + max_tokens: %d tokens need %d KV blocks of %d tokens but the whole KV "
        "cache has %d blocks",
        total, blocks, config.block_size, num_kv_blocks));
  }
  return absl::OkStatus();
}

absl::Status Scheduler::Add(int64_t id, std::vector<int32_t> prompt_tokens, int32_t max_tokens) {
  const int32_t num_prompt = static_cast<int32_t>(std::min<size_t>(prompt_tokens.size(), INT32_MAX));
  if (absl::Status s = CheckFits(num_prompt, max_tokens); !s.ok()) return s;
  if (num_queued_new_ >= config_.max_waiting) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("waiting queue is full (%d requests)", config_.max_waiting));
  }
  if (seqs_.contains(id)) {
    return absl::AlreadyExistsError(absl::StrFormat("sequence %d is already scheduled", id));
  }
  auto seq = std::make_unique<SequenceState>();
  seq->id = id;
  seq->tokens = std::move(prompt_tokens);
  seq->num_prompt_tokens = num_prompt;
  seq->max_tokens = max_tokens;
  waiting_.push_back(seq.get());
  seqs_.emplace(id, std::move(seq));
  ++num_queued_new_;
  return absl::OkStatus();
}

void Scheduler::Cancel(int64_t id) {
  auto it = seqs_.find(id);
  if (it != seqs_.end()) it->second->cancelled = true;
}

void Scheduler::Finish(int64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  SequenceState* seq = it->second.get();
  if (seq->running) {
    running_.erase(std::find(running_.begin(), running_.end(), seq));
  } else {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), seq));
    if (!seq->ever_scheduled) --num_queued_new_;
  }
  ReleaseBlocks(seq);
  seqs_.erase(it);
}

const SequenceState* Scheduler::Find(int64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

SchedulerOutput Scheduler::Schedule() {
  SchedulerOutput out;
  RemoveCancelled(&out);
  absl::flat_hash_map<SequenceState*, int32_t> picks;
  const int32_t budget_left = PickRunningTokens(&picks);
  AllocatePicked(&picks, &out);
  // Admitting while preempting would hand the freed blocks to a newcomer and thrash.
  if (out.preempted.empty()) AdmitWaiting(budget_left, &picks, &out);
  BuildPlan(picks, &out.plan);
  return out;
}

void Scheduler::RemoveCancelled(SchedulerOutput* out) {
  for (const auto& [id, seq] : seqs_) {
    if (seq->cancelled) out->cancelled.push_back(id);
  }
  std::sort(out->cancelled.begin(), out->cancelled.end());
  for (int64_t id : out->cancelled) Finish(id);
}

int32_t Scheduler::PickRunningTokens(absl::flat_hash_map<SequenceState*, int32_t>* picks) const {
  int32_t budget = config_.step_token_budget;
  // Decodes first: one token each keeps every stream moving while a long prompt prefills.
  for (SequenceState* seq : running_) {
    if (budget == 0) break;
    if (seq->num_uncomputed() == 1) {
      (*picks)[seq] = 1;
      --budget;
    }
  }
  for (SequenceState* seq : running_) {
    if (budget == 0) break;
    if (seq->num_uncomputed() > 1) {
      const int32_t n = std::min(seq->num_uncomputed(), budget);
      (*picks)[seq] = n;
      budget -= n;
    }
  }
  return budget;
}

void Scheduler::AllocatePicked(absl::flat_hash_map<SequenceState*, int32_t>* picks,
                               SchedulerOutput* out) {
  // Index loop: preemption pops from the back, which never moves the entries before i.
  for (size_t i = 0; i < running_.size(); ++i) {
    SequenceState* seq = running_[i];
    auto it = picks->find(seq);
    if (it == picks->end()) continue;
    const int32_t positions = seq->num_computed + it->second;
    while (!GrowBlocks(seq, positions)) {
      SequenceState* victim = running_.back();
      picks->erase(victim);
      out->preempted.push_back(victim->id);
      Preempt(victim);
      if (victim == seq) break;
    }
  }
}

void Scheduler::AdmitWaiting(int32_t budget, absl::flat_hash_map<SequenceState*, int32_t>* picks,
                             SchedulerOutput* out) {
  while (budget > 0 && num_running() < config_.max_running && !waiting_.empty()) {
    SequenceState* seq = waiting_.front();
    const int32_t n = std::min(seq->num_uncomputed(), budget);
    if (!GrowBlocks(seq, seq->num_computed + n)) break;
    waiting_.pop_front();
    seq->running = true;
    running_.push_back(seq);
    (*picks)[seq] = n;
    budget -= n;
    if (!seq->ever_scheduled) {
      seq->ever_scheduled = true;
      --num_queued_new_;
      out->first_admitted.push_back(seq->id);
    }
  }
}

bool Scheduler::GrowBlocks(SequenceState* seq, int32_t num_positions) {
  const int32_t missing = BlocksFor(num_positions) - static_cast<int32_t>(seq->block_table.size());
  if (missing <= 0) return true;
  std::optional<std::vector<int32_t>> blocks = allocator_->Allocate(missing);
  if (!blocks.has_value()) return false;
  seq->block_table.insert(seq->block_table.end(), blocks->begin(), blocks->end());
  return true;
}

void Scheduler::Preempt(SequenceState* seq) {
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  ReleaseBlocks(seq);
  seq->running = false;
  seq->num_computed = 0;
  ++seq->num_preemptions;
  ++num_preemptions_;
  waiting_.push_front(seq);
}

void Scheduler::ReleaseBlocks(SequenceState* seq) {
  allocator_->Free(seq->block_table);
  seq->block_table.clear();
}

void Scheduler::BuildPlan(const absl::flat_hash_map<SequenceState*, int32_t>& picks,
                          StepPlan* plan) const {
  for (SequenceState* seq : running_) {
    auto it = picks.find(seq);
    if (it == picks.end()) continue;
    const int32_t n = it->second;
    StepSequence step;
    step.first_token = plan->n_tokens();
    step.n_tokens = n;
    step.n_past = seq->num_computed;
    step.block_table = seq->block_table;
    step.logits = seq->num_computed + n == seq->num_tokens() ? LogitsWanted::kLast : LogitsWanted::kNone;
    step.seq_id = seq->id;
    plan->tokens.insert(plan->tokens.end(), seq->tokens.begin() + seq->num_computed,
                        seq->tokens.begin() + seq->num_computed + n);
    plan->seqs.push_back(std::move(step));
  }
}

void Scheduler::Update(const StepPlan& plan, std::span<const int32_t> sampled) {
  ABSL_RAW_CHECK(sampled.size() == plan.seqs.size(), "Update needs one sampled entry per planned sequence");
  for (size_t i = 0; i < plan.seqs.size(); ++i) {
    const StepSequence& step = plan.seqs[i];
    auto it = seqs_.find(step.seq_id);
    if (it == seqs_.end()) continue;
    SequenceState* seq = it->second.get();
    ABSL_RAW_CHECK(seq->running && seq->num_computed == step.n_past,
                   "a sequence changed between Schedule and Update");
    seq->num_computed += step.n_tokens;
    if (step.logits != LogitsWanted::kNone && sampled[i] != kNoToken &&
        seq->num_computed == seq->num_tokens()) {
      seq->tokens.push_back(sampled[i]);
    }
  }
}

}  // namespace hobbit::runtime
