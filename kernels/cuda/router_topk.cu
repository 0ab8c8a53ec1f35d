#include "kernels/cuda/router_topk.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/router_warp.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kWarps = 4;

__global__ void __launch_bounds__(kWarps * 32) RouterKernel(RouterTopKParams p) {
  cuda_internal::AfterPriorGrid();
  const int lane = threadIdx.x % 32;
  const int32_t t = blockIdx.x * kWarps + threadIdx.x / 32;
  if (t >= p.n_tokens) return;
  const float* l = p.logits + static_cast<int64_t>(t) * p.n_expert;
  float logit[cuda_internal::kRouterPerLane];
#pragma unroll
  for (int i = 0; i < cuda_internal::kRouterPerLane; ++i) {
    const int e = lane + 32 * i;
    logit[i] = e < p.n_expert ? l[e] : -INFINITY;
  }
  cuda_internal::RouteTokenOfWarp(logit, p.n_expert, p.k, p.renormalize, p.ids + static_cast<int64_t>(t) * p.k,
                                  p.weights + static_cast<int64_t>(t) * p.k, lane);
}

}  // namespace

absl::Status RouterTopKF32(const RouterTopKParams& p, CUstream_st* stream) {
  if (p.n_expert <= 0 || p.n_expert > kRouterMaxExperts || p.k <= 0 || p.k > p.n_expert) {
    return absl::InvalidArgumentError(absl::StrCat("cuda router: k = ", p.k, " with ", p.n_expert,
                                                   " experts (at most ", kRouterMaxExperts, ")"));
  }
  if (p.n_tokens <= 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(RouterKernel, cuda_internal::GridFor(p.n_tokens, kWarps), kWarps * 32, stream, p);
  return cuda_internal::LaunchStatus("cuda router");
}

}  // namespace hobbit::kernels
