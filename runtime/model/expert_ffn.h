// ExpertFfn: the seam where the routed experts of a MoE layer run.
//
// The model computes the router's choice per token and hands it here; an implementation runs
// the chosen experts (SwiGLU: down(silu(gate x) * up x)) and accumulates their weighted outputs.
// ResidentExpertFfn keeps every expert in backend memory; the offloading work supplies an
// implementation that resolves experts against a device cache, loads, prefetches or skips.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "runtime/backend/backend.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace hobbit::runtime {

// The router's decision for a batch of tokens, in host memory.
struct ExpertRouting {
  int32_t n_tokens = 0;
  int32_t k = 0;
  const int32_t* ids = nullptr;    // [n_tokens, k], each token's experts by weight, descending
  const float* weights = nullptr;  // [n_tokens, k]
  const int64_t* seq_ids = nullptr;  // [n_tokens]: the engine's sequence id of each token
};

// Used from the engine thread only.
class ExpertFfn {
 public:
  virtual ~ExpertFfn() = default;
  // Called once by Model::Load; `experts` (one entry per layer) stays valid while the model lives.
  virtual absl::Status Init(const ModelConfig& config, std::span<const LayerExperts> experts, Backend& backend) = 0;
  // out[t, :] += sum_j weights[t, j] * expert_{ids[t, j]}(x[t, :]) for every token of the batch.
  // x and out are backend memory [n_tokens, n_embd].
  virtual absl::Status Run(int32_t layer, const float* x, const ExpertRouting& routing, float* out) = 0;
  // Device routing: whether this layer's experts for n_tokens tokens run on the router's choice
  // left in backend memory (RunRouted), with no round trip to the host. Loaders that decide on
  // the host (offloading) say no.
  virtual bool CanRunRouted(int32_t layer, int32_t n_tokens) { return false; }
  // As Run, with ids and weights ([n_tokens, k]) in backend memory. REQUIRES: CanRunRouted.
  virtual absl::Status RunRouted(int32_t layer, const float* x, const int32_t* ids, const float* weights,
                                 int32_t n_tokens, int32_t k, float* out) {
    return absl::FailedPreconditionError("this expert FFN decides on the host: use Run");
  }
};

// All experts resident in backend memory: tokens are grouped by expert and each expert runs
// once per step over its tokens.
class ResidentExpertFfn final : public ExpertFfn {
 public:
  // device_routing: run decode-sized batches with Backend::RoutedExperts where the backend can.
  explicit ResidentExpertFfn(bool device_routing = false) : device_routing_(device_routing) {}

  absl::Status Init(const ModelConfig& config, std::span<const LayerExperts> experts, Backend& backend) override;
  absl::Status Run(int32_t layer, const float* x, const ExpertRouting& routing, float* out) override;
  bool CanRunRouted(int32_t layer, int32_t n_tokens) override;
  absl::Status RunRouted(int32_t layer, const float* x, const int32_t* ids, const float* weights, int32_t n_tokens,
                         int32_t k, float* out) override;

 private:
  RoutedExpertsParams Params(int32_t layer, const float* x, const int32_t* ids, const float* weights,
                             int32_t n_tokens, int32_t k, float* out) const;

  // Whether a batch past kRoutedExpertsMaxTokens runs faster as Backend::RoutedExperts on the
  // host choice (all experts in a few launches) than expert by expert.
  bool GroupedPays(int32_t n_tokens, int32_t k) const;

  bool device_routing_;
  // Per layer and token count 1..kRoutedExpertsMaxTokens: 0 unknown, 1 yes, -1 no.
  std::vector<std::array<int8_t, kRoutedExpertsMaxTokens + 1>> routed_ok_;
  absl::Status EnsureScratch(int32_t n_tokens);

  ModelConfig config_;
  std::span<const LayerExperts> experts_;
  Backend* backend_ = nullptr;
  int32_t scratch_tokens_ = 0;
  std::unique_ptr<DeviceBuffer> x_e_, gate_, up_, down_;
};

}  // namespace hobbit::runtime
