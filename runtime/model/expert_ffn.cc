#include "runtime/model/expert_ffn.h"

#include <algorithm>
#include <vector>

#include "kernels/base/status_macros.h"

namespace hobbit::runtime {

absl::Status ResidentExpertFfn::Init(const ModelConfig& config, std::span<const LayerExperts> experts,
                                     Backend& backend) {
  config_ = config;
  experts_ = experts;
  backend_ = &backend;
  routed_ok_.assign(experts.size(), {});
  return absl::OkStatus();
}

RoutedExpertsParams ResidentExpertFfn::Params(int32_t layer, const float* x, const int32_t* ids, const float* weights,
                                              int32_t n_tokens, int32_t k, float* out) const {
  const LayerExperts& ex = experts_[layer];
  return RoutedExpertsParams{.gate = ex.gate, .up = ex.up, .down = ex.down, .x = x, .ids = ids, .weights = weights,
                             .n_tokens = n_tokens, .k = k, .out = out};
}

bool ResidentExpertFfn::CanRunRouted(int32_t layer, int32_t n_tokens) {
  if (!device_routing_ || layer < 0 || layer >= static_cast<int32_t>(routed_ok_.size()) || n_tokens < 1 ||
      n_tokens > kRoutedExpertsMaxTokens) {
    return false;
  }
  // Once the batch's choices outnumber the experts, the host-routed way (tokens grouped per
  // expert, one product each) wins: on the H200, mixtral shape, batch 8 (16 choices of 8 experts)
  // ran at 1,086 tok/s routed on the device and 1,129 host-routed; batch 1 at 583 and 501.
  if (int64_t{n_tokens} * config_.n_expert_used > config_.n_expert) return false;
  int8_t& ok = routed_ok_[layer][n_tokens];
  if (ok == 0) {
    ok = backend_->RoutedExpertsCanRun(Params(layer, nullptr, nullptr, nullptr, n_tokens, config_.n_expert_used, nullptr))
             ? 1
             : -1;
  }
  return ok > 0;
}

absl::Status ResidentExpertFfn::RunRouted(int32_t layer, const float* x, const int32_t* ids, const float* weights,
                                          int32_t n_tokens, int32_t k, float* out) {
  return backend_->RoutedExperts(Params(layer, x, ids, weights, n_tokens, k, out));
}

absl::Status ResidentExpertFfn::EnsureScratch(int32_t n_tokens) {
  if (n_tokens <= scratch_tokens_) return absl::OkStatus();
  const size_t f = sizeof(float);
  HOBBIT_ASSIGN_OR_RETURN(x_e_, backend_->Allocate(f * n_tokens * config_.n_embd, "expert input rows"));
  HOBBIT_ASSIGN_OR_RETURN(gate_, backend_->Allocate(f * n_tokens * config_.n_ff_exp, "expert gate activations"));
  HOBBIT_ASSIGN_OR_RETURN(up_, backend_->Allocate(f * n_tokens * config_.n_ff_exp, "expert up activations"));
  HOBBIT_ASSIGN_OR_RETURN(down_, backend_->Allocate(f * n_tokens * config_.n_embd, "expert outputs"));
  scratch_tokens_ = n_tokens;
  return absl::OkStatus();
}

bool ResidentExpertFfn::GroupedPays(int32_t n_tokens, int32_t k) const {
  if (n_tokens <= kRoutedExpertsMaxTokens || !backend_->device_routing_pays()) return false;
  // One launch per projection for all experts, each expert read once per 8 of its tokens,
  // against a handful of launches per expert and cuBLAS on decoded tiles (roughly 5 stored bytes
  // moved per weight). Many small experts (qwen3-30b-a3b: 128 of 768x2048) made the latter
  // launch-bound: 8.4 ms a layer for 512 tokens on the H200; large ones with many tokens each
  // (mixtral: 8 of 14336x4096, 128 tokens each) are cheaper on the tensor cores. The limits are
  // estimates, not measured crossovers: on the H200, grouped was faster at 32 tokens per small
  // expert (qwen3, 512 tokens) and at 4-8 per large one (mixtral, 16-32 decode streams), and the
  // tensor cores at 128 per large one; nothing in between was timed.
  const int64_t tokens_per_expert = int64_t{n_tokens} * k / std::max(config_.n_expert, 1);
  const bool small_experts = int64_t{config_.n_ff_exp} * config_.n_embd <= (int64_t{4} << 20);
  return tokens_per_expert <= (small_experts ? 64 : 16);
}

absl::Status ResidentExpertFfn::Run(int32_t layer, const float* x, const ExpertRouting& routing, float* out) {
  if (GroupedPays(routing.n_tokens, routing.k)) {
    RoutedExpertsParams p = Params(layer, x, nullptr, nullptr, routing.n_tokens, routing.k, out);
    p.ids_host = routing.ids;
    p.weights_host = routing.weights;
    if (backend_->RoutedExpertsCanRun(p)) return backend_->RoutedExperts(p);
  }
  HOBBIT_RETURN_IF_ERROR(EnsureScratch(routing.n_tokens));
  const LayerExperts& ex = experts_[layer];
  // Tokens of each expert, in token order, with their router weights.
  std::vector<std::vector<int32_t>> rows(config_.n_expert);
  std::vector<std::vector<float>> scales(config_.n_expert);
  for (int32_t t = 0; t < routing.n_tokens; ++t) {
    for (int32_t j = 0; j < routing.k; ++j) {
      const int32_t e = routing.ids[t * routing.k + j];
      rows[e].push_back(t);
      scales[e].push_back(routing.weights[t * routing.k + j]);
    }
  }
  for (int32_t e = 0; e < config_.n_expert; ++e) {
    const int32_t n = static_cast<int32_t>(rows[e].size());
    if (n == 0) continue;
    float* xe = x_e_->as<float>();
    HOBBIT_RETURN_IF_ERROR(backend_->GatherRows(x, rows[e].data(), n, config_.n_embd, xe));
    HOBBIT_RETURN_IF_ERROR(backend_->MatMul(ex.gate[e], xe, n, gate_->as<float>()));
    HOBBIT_RETURN_IF_ERROR(backend_->MatMul(ex.up[e], xe, n, up_->as<float>()));
    HOBBIT_RETURN_IF_ERROR(backend_->SiluMul(gate_->as<float>(), up_->as<float>(), int64_t{n} * config_.n_ff_exp,
                                             gate_->as<float>()));
    HOBBIT_RETURN_IF_ERROR(backend_->MatMul(ex.down[e], gate_->as<float>(), n, down_->as<float>()));
    HOBBIT_RETURN_IF_ERROR(
        backend_->ScatterAddScaled(down_->as<float>(), rows[e].data(), scales[e].data(), n, config_.n_embd, out));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
