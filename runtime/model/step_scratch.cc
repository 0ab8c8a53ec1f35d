#include "runtime/model/step_scratch.h"

#include <algorithm>
#include <bit>

#include "kernels/base/status_macros.h"

namespace hobbit::runtime {

absl::Status StepScratch::Grow(int32_t n) {
  if (n <= capacity_) return absl::OkStatus();
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
  ++generation_;
  return absl::OkStatus();
}

absl::Status StepScratch::Upload(std::unique_ptr<DeviceBuffer>& buffer, const std::vector<int32_t>& host,
                                 const char* what) {
  const size_t bytes = std::max<size_t>(1, host.size()) * sizeof(int32_t);
  if (!buffer || buffer->bytes() < bytes) {
    HOBBIT_ASSIGN_OR_RETURN(buffer, backend_.Allocate(bytes * 2, what));
    ++generation_;
  }
  if (host.empty()) return absl::OkStatus();
  return backend_.CopyToDevice(buffer->data(), host.data(), host.size() * sizeof(int32_t));
}

absl::Status StepScratch::Prepare(const StepPlan& plan, int32_t block_size) {
  const int32_t n = plan.n_tokens();
  HOBBIT_RETURN_IF_ERROR(Grow(n));
  std::vector<int32_t> positions(n), slots(n), token_seq(n);
  seq_ids_.assign(n, 0);
  max_blocks_ = 1;
  for (const StepSequence& seq : plan.seqs) {
    max_blocks_ = std::max(max_blocks_, static_cast<int32_t>(seq.block_table.size()));
  }
  // A power of two: the table's row stride is an argument of the attention op, so it changes
  // only at doublings of the context, not every block (recorded steps are keyed by it).
  max_blocks_ = static_cast<int32_t>(std::bit_ceil(static_cast<uint32_t>(max_blocks_)));
  std::vector<int32_t> tables(plan.seqs.size() * max_blocks_, 0);
  for (size_t s = 0; s < plan.seqs.size(); ++s) {
    const StepSequence& seq = plan.seqs[s];
    std::copy(seq.block_table.begin(), seq.block_table.end(), tables.begin() + s * max_blocks_);
    for (int32_t i = 0; i < seq.n_tokens; ++i) {
      const int32_t t = seq.first_token + i;
      const int32_t pos = seq.n_past + i;
      positions[t] = pos;
      token_seq[t] = static_cast<int32_t>(s);
      slots[t] = seq.block_table[pos / block_size] * block_size + pos % block_size;
      seq_ids_[t] = seq.seq_id;
    }
  }
  HOBBIT_RETURN_IF_ERROR(Upload(positions_, positions, "step positions"));
  HOBBIT_RETURN_IF_ERROR(Upload(slots_, slots, "step KV slots"));
  HOBBIT_RETURN_IF_ERROR(Upload(token_seq_, token_seq, "step token sequences"));
  return Upload(block_tables_, tables, "step block tables");
}

absl::StatusOr<float*> StepScratch::Logits(int32_t n_rows, int32_t n_vocab) {
  const size_t bytes = sizeof(float) * static_cast<size_t>(n_rows) * n_vocab;
  if (!logits_ || logits_->bytes() < bytes) {
    HOBBIT_ASSIGN_OR_RETURN(logits_, backend_.Allocate(bytes, "logits"));
  }
  return logits_->as<float>();
}

}  // namespace hobbit::runtime
