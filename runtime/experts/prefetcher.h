// Prefetcher: predicts the experts of the next layers from the current layer's gate input
// (hobbit-algorithms.md §2).
//
// Successive layers' gate inputs are close (residual stream), so x_l times the routers of
// layers l+1 .. l+p predicts their experts. The p routers sit stacked in one matrix of
// [n_layer * n_expert, n_embd] rows, so all p predictions are one product and one top-k over
// the rows of layers l+1 .. l+p. What to prefetch (adaptive depth, precision, pins) is the
// loader's choice; this class only predicts.
//
//   HOBBIT_RETURN_IF_ERROR(prefetcher.Predict(layer, x, n_tokens));
//   for (int32_t j = 0; j < prefetcher.n_predicted(); ++j)  // layer + 1 + j
//     prefetcher.ids(j, token)[0 .. k)
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model_config.h"

namespace hobbit::runtime {

// Not thread-safe: engine thread only. The backend must outlive it.
class Prefetcher {
 public:
  // Reads every layer's router (`blk.N.ffn_gate_inp.weight`) from `file`, dequantized to F32
  // and stacked in backend memory. InvalidArgument naming the tensor if one is missing or
  // misshaped.
  static absl::StatusOr<std::unique_ptr<Prefetcher>> Create(const GgufFile& file, const ModelConfig& config,
                                                            Backend& backend, int32_t depth);

  // Predicts the top-k of layers layer+1 .. min(layer+depth, n_layer-1) for the gate inputs
  // x [n_tokens, n_embd] (backend memory), with the model's own softmax/top-k/renormalization.
  absl::Status Predict(int32_t layer, const float* x, int32_t n_tokens);
  int32_t n_predicted() const { return n_predicted_; }
  // The k predicted experts of `token` for layer (Predict's layer) + 1 + j, weight descending.
  const int32_t* ids(int32_t j, int32_t token) const { return &ids_[Offset(j, token)]; }
  const float* weights(int32_t j, int32_t token) const { return &weights_[Offset(j, token)]; }

 private:
  Prefetcher(Backend& backend, const ModelConfig& config, int32_t depth)
      : backend_(backend), config_(config), depth_(depth) {}
  size_t Offset(int32_t j, int32_t token) const {
    return (static_cast<size_t>(token) * n_predicted_ + j) * config_.n_expert_used;
  }

  Backend& backend_;
  ModelConfig config_;
  int32_t depth_;
  std::unique_ptr<DeviceBuffer> routers_;  // [n_layer * n_expert, n_embd] float32
  std::unique_ptr<DeviceBuffer> logits_;   // [tokens, depth * n_expert]
  int32_t logits_tokens_ = 0;
  int32_t n_predicted_ = 0;
  std::vector<int32_t> ids_;
  std::vector<float> weights_;
};

}  // namespace hobbit::runtime
