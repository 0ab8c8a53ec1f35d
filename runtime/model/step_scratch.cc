#include "runtime/model/step_scratch.h"

#include <algorithm>
#include <bit>

#include "kernels/base/status_macros.h"

namespace hobbit::runtime {

absl::Status StepScratch::Grow(int32_t n) {
  if (n <= capacity_) return absl::OkStatus();
  // First: if an allocation below fails, buffers already replaced must not be replayed.
  ++generation_;
  const ModelConfig& c = config_;
  const size_t f = sizeof(float);
  const size_t t = static_cast<size_t>(n);
  const size_t attn_width = std::max<size_t>(size_t(c.n_head) * c.head_dim_v, c.n_embd);
  HOBBIT_ASSIGN_OR_RETURN(x_, backend_.Allocate(f * t * c.n_embd, "residual stream"));
  HOBBIT_ASSIGN_OR_RETURN(h_, backend_.Allocate(f * t * c.n_embd, "normed activations"));
  HOBBIT_ASSIGN_OR_RETURN(q_, backend_.Allocate(f * t * c.n_head * c.head_dim_k, "queries"));
  HOBBIT_ASSIGN_OR_RETURN(k_, backend_.Allocate(f * t * c.n_head_kv * c.head_dim_k, "keys"));
  HOBBIT_ASSIGN_OR_RETURN(v_, backend_.Allocate(f * t * c.n_head_kv * c.head_dim_v, "values"));
  HOBBIT_ASSIGN_OR_RETURN(attn_, backend_.Allocate(f * t * attn_width, "attention output"));
  HOBBIT_ASSIGN_OR_RETURN(moe_out_, backend_.Allocate(f * t * c.n_embd, "MoE output"));
  HOBBIT_ASSIGN_OR_RETURN(router_, backend_.Allocate(f * t * c.n_expert, "router logits"));
  const size_t shexp = std::max<size_t>(1, size_t(c.n_ff_shexp));
  HOBBIT_ASSIGN_OR_RETURN(shexp_gate_, backend_.Allocate(f * t * shexp, "shared expert gate"));
  HOBBIT_ASSIGN_OR_RETURN(shexp_up_, backend_.Allocate(f * t * shexp, "shared expert up"));
  HOBBIT_ASSIGN_OR_RETURN(expert_ids_device_, backend_.Allocate(sizeof(int32_t) * t * c.n_expert_used, "router ids"));
  HOBBIT_ASSIGN_OR_RETURN(expert_weights_device_, backend_.Allocate(f * t * c.n_expert_used, "router weights"));
  expert_ids_.resize(t * c.n_expert_used);
  expert_weights_.resize(t * c.n_expert_used);
  capacity_ = n;
  return absl::OkStatus();
}

absl::Status StepScratch::Prepare(const StepPlan& plan, int32_t block_size, int32_t n_vocab) {
  const int32_t n = plan.n_tokens();
  HOBBIT_RETURN_IF_ERROR(Grow(n));
  int32_t n_rows = 0;
  max_blocks_ = 1;
  for (const StepSequence& seq : plan.seqs) {
    max_blocks_ = std::max(max_blocks_, static_cast<int32_t>(seq.block_table.size()));
    if (seq.logits == LogitsWanted::kLast) n_rows += 1;
    if (seq.logits == LogitsWanted::kAll) n_rows += seq.n_tokens;
  }
  // A power of two: the table's row stride is an argument of the attention op, so it changes
  // only at doublings of the context, not every block (recorded steps are keyed by it).
  max_blocks_ = static_cast<int32_t>(std::bit_ceil(static_cast<uint32_t>(max_blocks_)));
  n_tokens_ = n;
  n_logit_rows_ = n_rows;
  const size_t tables_at = 4 * static_cast<size_t>(n) + n_rows;
  meta_host_.assign(tables_at + plan.seqs.size() * max_blocks_, 0);
  int32_t* tokens = meta_host_.data();
  int32_t* positions = tokens + n;
  int32_t* slots = positions + n;
  int32_t* token_seq = slots + n;
  int32_t* rows = token_seq + n;
  int32_t* tables = meta_host_.data() + tables_at;
  std::copy(plan.tokens.begin(), plan.tokens.end(), tokens);
  seq_ids_.assign(n, 0);
  for (size_t s = 0; s < plan.seqs.size(); ++s) {
    const StepSequence& seq = plan.seqs[s];
    std::copy(seq.block_table.begin(), seq.block_table.end(), tables + s * max_blocks_);
    for (int32_t i = 0; i < seq.n_tokens; ++i) {
      const int32_t t = seq.first_token + i;
      const int32_t pos = seq.n_past + i;
      positions[t] = pos;
      token_seq[t] = static_cast<int32_t>(s);
      slots[t] = seq.block_table[pos / block_size] * block_size + pos % block_size;
      seq_ids_[t] = seq.seq_id;
      if (seq.logits == LogitsWanted::kAll || (seq.logits == LogitsWanted::kLast && i + 1 == seq.n_tokens)) {
        *rows++ = t;
      }
    }
  }
  // A buffer that grows moves, which ends every recording: each grows to at least twice its old
  // size (decode batches growing one stream at a time re-record a few times, not at each), but
  // never past what the step needs when that is more (a first step of many logits rows takes
  // exactly its size: 512 rows of qwen3's vocabulary are 311 MB).
  const auto grown = [](const std::unique_ptr<DeviceBuffer>& old, size_t needed) {
    return std::max(needed, old ? 2 * old->bytes() : size_t{0});
  };
  const size_t meta_bytes = meta_host_.size() * sizeof(int32_t);
  if (!meta_ || meta_->bytes() < meta_bytes) {
    HOBBIT_ASSIGN_OR_RETURN(meta_, backend_.Allocate(grown(meta_, meta_bytes), "step metadata"));
    ++generation_;
  }
  const size_t logits_bytes = sizeof(float) * std::max<size_t>(1, static_cast<size_t>(n_rows) * n_vocab);
  if (!logits_ || logits_->bytes() < logits_bytes) {
    HOBBIT_ASSIGN_OR_RETURN(logits_, backend_.Allocate(grown(logits_, logits_bytes), "logits"));
    ++generation_;
  }
  return backend_.CopyToDevice(meta_->data(), meta_host_.data(), meta_bytes);
}

}  // namespace hobbit::runtime
