// RoutingRecorder: an ExpertFfn that records the router's choices (layer, experts, weights) of
// every call and hands the call on to the ExpertFfn it wraps — the routing trace that --tune
// replays through the expert cache without running the model again.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/model/expert_ffn.h"

namespace hobbit::tools {

// One ExpertFfn::Run call: one layer of one step.
struct RoutingTraceEntry {
  int32_t layer = 0;
  int32_t n_tokens = 0;
  int32_t k = 0;
  std::vector<int32_t> ids;     // [n_tokens, k], by weight descending
  std::vector<float> weights;   // [n_tokens, k]
};

// Engine thread only, like the ExpertFfn it wraps (owned).
class RoutingRecorder final : public runtime::ExpertFfn {
 public:
  explicit RoutingRecorder(std::unique_ptr<runtime::ExpertFfn> inner) : inner_(std::move(inner)) {}

  absl::Status Init(const runtime::ModelConfig& config, std::span<const runtime::LayerExperts> experts,
                    runtime::Backend& backend) override {
    return inner_->Init(config, experts, backend);
  }
  absl::Status Run(int32_t layer, const float* x, const runtime::ExpertRouting& routing, float* out) override;

  const std::vector<RoutingTraceEntry>& trace() const { return trace_; }

 private:
  std::unique_ptr<runtime::ExpertFfn> inner_;
  std::vector<RoutingTraceEntry> trace_;
};

}  // namespace hobbit::tools
