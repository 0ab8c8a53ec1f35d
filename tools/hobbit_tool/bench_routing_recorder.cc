#include "tools/hobbit_tool/bench_routing_recorder.h"

namespace hobbit::tools {

absl::Status RoutingRecorder::Run(int32_t layer, const float* x, const runtime::ExpertRouting& routing, float* out) {
  RoutingTraceEntry e;
  e.layer = layer;
  e.n_tokens = routing.n_tokens;
  e.k = routing.k;
  const size_t n = static_cast<size_t>(routing.n_tokens) * static_cast<size_t>(routing.k);
  e.ids.assign(routing.ids, routing.ids + n);
  e.weights.assign(routing.weights, routing.weights + n);
  trace_.push_back(std::move(e));
  return inner_->Run(layer, x, routing, out);
}

}  // namespace hobbit::tools
