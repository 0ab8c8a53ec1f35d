#include "kernels/cuda/router_topk.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = kRouterMaxExperts / 32;

__global__ void __launch_bounds__(kWarps * 32) RouterKernel(RouterTopKParams p) {
  cuda_internal::AfterPriorGrid();
  const int lane = threadIdx.x % 32;
  const int32_t t = blockIdx.x * kWarps + threadIdx.x / 32;
  if (t >= p.n_tokens) return;
  const float* l = p.logits + static_cast<int64_t>(t) * p.n_expert;
  float prob[kPerLane];
  float max = -INFINITY;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int e = lane + 32 * i;
    prob[i] = e < p.n_expert ? l[e] : -INFINITY;
    max = fmaxf(max, prob[i]);
  }
  for (int off = 16; off > 0; off /= 2) max = fmaxf(max, __shfl_xor_sync(0xffffffffu, max, off));
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    prob[i] = lane + 32 * i < p.n_expert ? expf(prob[i] - max) : 0.0f;
    sum += prob[i];
  }
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) prob[i] = lane + 32 * i < p.n_expert ? prob[i] / sum : -1.0f;
  // k rounds of a warp argmax; a picked expert's probability becomes -1 (below any probability).
  // Lane j keeps pick j (j < 32), so the picks are written, renormalized, by all lanes at once at
  // the end (lane 0 writing and then rescaling each in turn cost a global round trip per pick:
  // ~4 us of qwen3's top-8).
  float picked_sum = 0.0f;
  float my_weight = 0.0f;
  int my_id = 0;
  for (int32_t j = 0; j < p.k; ++j) {
    float best = -2.0f;
    int best_e = 0x7fffffff;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      if (prob[i] > best) {  // lane's experts ascend, so ties keep the lower id
        best = prob[i];
        best_e = lane + 32 * i;
      }
    }
    for (int off = 16; off > 0; off /= 2) {
      const float ob = __shfl_xor_sync(0xffffffffu, best, off);
      const int oe = __shfl_xor_sync(0xffffffffu, best_e, off);
      if (ob > best || (ob == best && oe < best_e)) {
        best = ob;
        best_e = oe;
      }
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      if (lane + 32 * i == best_e) prob[i] = -1.0f;
    }
    if (j < 32) {
      if (lane == j) {
        my_weight = best;
        my_id = best_e;
      }
    } else if (lane == 0) {
      p.ids[static_cast<int64_t>(t) * p.k + j] = best_e;
      p.weights[static_cast<int64_t>(t) * p.k + j] = best;
    }
    picked_sum += best;  // the same on every lane: best is the warp's
  }
  const float denom = fmaxf(picked_sum, 6.103515625e-5f);
  if (lane < p.k) {
    p.ids[static_cast<int64_t>(t) * p.k + lane] = my_id;
    p.weights[static_cast<int64_t>(t) * p.k + lane] = p.renormalize ? my_weight / denom : my_weight;
  }
  if (p.renormalize && lane == 0) {
    for (int32_t j = 32; j < p.k; ++j) p.weights[static_cast<int64_t>(t) * p.k + j] /= denom;
  }
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
