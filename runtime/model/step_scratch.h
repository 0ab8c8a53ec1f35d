// StepScratch: the activation buffers and per-step metadata of Model::Forward, in backend memory.
//
// Buffers grow to the largest step seen and are reused. Prepare() uploads the step's metadata —
// token ids, positions, KV slots, sequence of each token, the rows whose logits are wanted and
// the block tables — as one array in one copy (each copy is a separate transfer on the device,
// and the host waits for none of them), so everything from the embedding lookup to the logits
// reads backend memory and a whole step can be recorded.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/model/model_config.h"
#include "runtime/model/step_plan.h"

namespace hobbit::runtime {

// Used from the engine thread only.
class StepScratch {
 public:
  StepScratch(Backend& backend, const ModelConfig& config) : backend_(backend), config_(config) {}

  // Also sizes the logits buffer for the rows the plan wants (n_vocab floats each).
  absl::Status Prepare(const StepPlan& plan, int32_t block_size, int32_t n_vocab);

  float* x() { return x_->as<float>(); }        // residual stream [n, n_embd]
  float* h() { return h_->as<float>(); }        // normed input / scratch [n, n_embd]
  float* q() { return q_->as<float>(); }
  float* k() { return k_->as<float>(); }
  float* v() { return v_->as<float>(); }
  float* attn() { return attn_->as<float>(); }  // [n, max(n_head * head_dim_v, n_embd)]
  float* moe_out() { return moe_out_->as<float>(); }
  float* router_logits() { return router_->as<float>(); }
  float* shexp_gate() { return shexp_gate_->as<float>(); }
  float* shexp_up() { return shexp_up_->as<float>(); }
  // The router's choice in backend memory (for experts run with Backend::RoutedExperts).
  int32_t* expert_ids_device() { return expert_ids_device_->as<int32_t>(); }
  float* expert_weights_device() { return expert_weights_device_->as<float>(); }
  // The step's metadata in backend memory (Prepare), each at a fixed offset for a given token
  // count and logits row count: [tokens n][positions n][KV slots n][token's sequence n]
  // [logit rows n_rows][block tables n_seqs * max_blocks].
  const int32_t* tokens() { return Meta(0); }
  const int32_t* positions() { return Meta(n_tokens_); }
  const int32_t* slots() { return Meta(2 * n_tokens_); }
  const int32_t* token_seq() { return Meta(3 * n_tokens_); }
  // Rows of the step's tokens whose logits are wanted, in output order.
  const int32_t* logit_rows() { return Meta(4 * n_tokens_); }
  const int32_t* block_tables() { return Meta(4 * n_tokens_ + n_logit_rows_); }
  int32_t n_logit_rows() const { return n_logit_rows_; }
  int32_t max_blocks() const { return max_blocks_; }
  // [n_logit_rows, n_vocab], sized by Prepare.
  float* logits() { return logits_->as<float>(); }
  // Changes whenever a buffer a step's ops use moves (activations, metadata, logits): a recorded
  // step that used the old ones must not be replayed.
  uint64_t generation() const { return generation_; }
  // Host arrays.
  int32_t* expert_ids() { return expert_ids_.data(); }
  float* expert_weights() { return expert_weights_.data(); }
  const int64_t* seq_ids() const { return seq_ids_.data(); }

 private:
  absl::Status Grow(int32_t n_tokens);
  const int32_t* Meta(int64_t offset) { return meta_->as<int32_t>() + offset; }

  Backend& backend_;
  ModelConfig config_;
  int32_t capacity_ = 0;
  int32_t max_blocks_ = 0;
  int32_t n_tokens_ = 0;
  int32_t n_logit_rows_ = 0;
  uint64_t generation_ = 0;
  std::unique_ptr<DeviceBuffer> x_, h_, q_, k_, v_, attn_, moe_out_, router_, shexp_gate_, shexp_up_;
  std::unique_ptr<DeviceBuffer> expert_ids_device_, expert_weights_device_;
  std::unique_ptr<DeviceBuffer> meta_, logits_;
  std::vector<int32_t> meta_host_;
  std::vector<int32_t> expert_ids_;
  std::vector<float> expert_weights_;
  std::vector<int64_t> seq_ids_;
};

}  // namespace hobbit::runtime
