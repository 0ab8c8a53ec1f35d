#include "runtime/model/sequence_runner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"

namespace hobbit::runtime {

absl::Status SequenceRunner::Init(int32_t max_tokens, int32_t chunk, int32_t block_size, kernels::KvCacheType kv_type) {
  if (max_tokens <= 0 || chunk <= 0 || block_size <= 0) {
    return absl::InvalidArgumentError("sequence runner: max_tokens, chunk and block_size must be positive");
  }
  const int32_t n_blocks = (max_tokens + block_size - 1) / block_size;
  KvCacheShape shape = model_.kv_shape();
  shape.type = kv_type;
  HOBBIT_ASSIGN_OR_RETURN(kv_, KvCache::Create(backend_, shape, block_size, n_blocks));
  BlockAllocator allocator(n_blocks);
  blocks_ = *allocator.Allocate(n_blocks);
  max_tokens_ = max_tokens;
  chunk_ = chunk;
  n_past_ = 0;
  return absl::OkStatus();
}

StepPlan SequenceRunner::Plan(std::span<const int32_t> tokens, LogitsWanted logits) const {
  StepPlan plan;
  plan.tokens.assign(tokens.begin(), tokens.end());
  StepSequence seq;
  seq.n_tokens = static_cast<int32_t>(tokens.size());
  seq.n_past = n_past_;
  seq.block_table = blocks_;
  seq.logits = logits;
  plan.seqs.push_back(std::move(seq));
  return plan;
}

absl::Status SequenceRunner::Append(std::span<const int32_t> tokens, LogitsWanted logits, StepOutput* out) {
  if (!kv_) return absl::FailedPreconditionError("sequence runner: Init was not called");
  if (n_past_ + static_cast<int64_t>(tokens.size()) > max_tokens_) {
    return absl::OutOfRangeError(absl::StrCat("sequence runner: ", n_past_ + tokens.size(),
                                              " tokens exceed the reserved ", max_tokens_));
  }
  if (!tokens.empty() && tokens.size() <= static_cast<size_t>(chunk_)) {
    // One step (a decode token): its logits go straight into `out`, whose storage is reused.
    HOBBIT_RETURN_IF_ERROR(model_.Forward(Plan(tokens, logits), *kv_, out));
    n_past_ += static_cast<int32_t>(tokens.size());
    return absl::OkStatus();
  }
  out->logits.clear();
  out->n_rows = 0;
  for (size_t begin = 0; begin < tokens.size(); begin += chunk_) {
    const size_t end = std::min(tokens.size(), begin + chunk_);
    const bool last_chunk = end == tokens.size();
    const LogitsWanted wanted =
        logits == LogitsWanted::kAll ? LogitsWanted::kAll : (last_chunk ? logits : LogitsWanted::kNone);
    StepOutput step;
    HOBBIT_RETURN_IF_ERROR(model_.Forward(Plan(tokens.subspan(begin, end - begin), wanted), *kv_, &step));
    out->logits.insert(out->logits.end(), step.logits.begin(), step.logits.end());
    out->n_rows += step.n_rows;
    out->n_vocab = step.n_vocab;
    n_past_ += static_cast<int32_t>(end - begin);
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
