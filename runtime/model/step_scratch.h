// StepScratch: the activation buffers and per-step metadata of Model::Forward, in backend memory.
//
// Buffers grow to the largest step seen and are reused; Prepare() uploads the step's positions,
// KV slots and block tables.
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

  absl::Status Prepare(const StepPlan& plan, int32_t block_size);

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
  const int32_t* positions() { return positions_->as<int32_t>(); }
  const int32_t* slots() { return slots_->as<int32_t>(); }
  const int32_t* token_seq() { return token_seq_->as<int32_t>(); }
  const int32_t* block_tables() { return block_tables_->as<int32_t>(); }
  int32_t max_blocks() const { return max_blocks_; }
  // Changes whenever a buffer the layers use moves (a recorded step that used the old ones must
  // not be replayed).
  uint64_t generation() const { return generation_; }
  // Host arrays.
  int32_t* expert_ids() { return expert_ids_.data(); }
  float* expert_weights() { return expert_weights_.data(); }
  const int64_t* seq_ids() const { return seq_ids_.data(); }

  absl::StatusOr<float*> Logits(int32_t n_rows, int32_t n_vocab);

 private:
  absl::Status Grow(int32_t n_tokens);
  absl::Status Upload(std::unique_ptr<DeviceBuffer>& buffer, const std::vector<int32_t>& host, const char* what);

  Backend& backend_;
  ModelConfig config_;
  int32_t capacity_ = 0;
  int32_t max_blocks_ = 0;
  uint64_t generation_ = 0;
  std::unique_ptr<DeviceBuffer> x_, h_, q_, k_, v_, attn_, moe_out_, router_, shexp_gate_, shexp_up_;
  std::unique_ptr<DeviceBuffer> expert_ids_device_, expert_weights_device_;
  std::unique_ptr<DeviceBuffer> positions_, slots_, token_seq_, block_tables_, logits_;
  std::vector<int32_t> expert_ids_;
  std::vector<float> expert_weights_;
  std::vector<int64_t> seq_ids_;
};

}  // namespace hobbit::runtime
