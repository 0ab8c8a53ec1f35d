// One token's routing by one warp: softmax over its expert logits, the k largest probabilities
// (ties: lower expert id first), sorted descending, optionally renormalized to sum to one
// (denominator clamped at 2^-14 as llama.cpp does). Shared by the router kernel (router_topk.cu)
// and the RMSNorm that routes (rms_norm.cu). Internal to kernels/cuda.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/router_topk.h"

namespace hobbit::kernels::cuda_internal {

inline constexpr int kRouterPerLane = kRouterMaxExperts / 32;

// logit[i] is expert lane + 32 i's logit, -INFINITY for i at or past n_expert. Writes ids[0..k)
// and weights[0..k). Every lane of the warp calls it.
__device__ __forceinline__ void RouteTokenOfWarp(float (&logit)[kRouterPerLane], int n_expert, int k,
                                                 bool renormalize, int32_t* ids, float* weights, int lane) {
  float (&prob)[kRouterPerLane] = logit;
  // Logits clamped to +-1e30 (a NaN to -1e30: fmaxf returns its other operand), so every
  // probability below is a number and the picks are k distinct experts of the n_expert even when
  // something upstream went non-finite: the expert kernels index weights by them. (Clamping the
  // probabilities after the division instead took the kernel from 95 to 126 registers and
  // mixtral's batch-1 decode 2.8 % slower on the H200.)
#pragma unroll
  for (int i = 0; i < kRouterPerLane; ++i) prob[i] = fminf(fmaxf(prob[i], -1e30f), 1e30f);
  float max = -INFINITY;
#pragma unroll
  for (int i = 0; i < kRouterPerLane; ++i) max = fmaxf(max, prob[i]);
  for (int off = 16; off > 0; off /= 2) max = fmaxf(max, __shfl_xor_sync(0xffffffffu, max, off));
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kRouterPerLane; ++i) {
    prob[i] = lane + 32 * i < n_expert ? expf(prob[i] - max) : 0.0f;
    sum += prob[i];
  }
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
#pragma unroll
  for (int i = 0; i < kRouterPerLane; ++i) prob[i] = lane + 32 * i < n_expert ? prob[i] / sum : -1.0f;
  // k rounds of a warp argmax; a picked expert's probability becomes -1 (below any probability).
  // Lane j keeps pick j (j < 32), so the picks are written, renormalized, by all lanes at once at
  // the end (lane 0 writing and then rescaling each in turn cost a global round trip per pick:
  // ~4 us of qwen3's top-8).
  float picked_sum = 0.0f;
  float my_weight = 0.0f;
  int my_id = 0;
  for (int32_t j = 0; j < k; ++j) {
    float best = -2.0f;
    int best_e = 0x7fffffff;
#pragma unroll
    for (int i = 0; i < kRouterPerLane; ++i) {
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
    for (int i = 0; i < kRouterPerLane; ++i) {
      if (lane + 32 * i == best_e) prob[i] = -1.0f;
    }
    if (j < 32) {
      if (lane == j) {
        my_weight = best;
        my_id = best_e;
      }
    } else if (lane == 0) {
      ids[j] = best_e;
      weights[j] = best;
    }
    picked_sum += best;  // the same on every lane: best is the warp's
  }
  const float denom = fmaxf(picked_sum, 6.103515625e-5f);
  if (lane < k) {
    ids[lane] = my_id;
    weights[lane] = renormalize ? my_weight / denom : my_weight;
  }
  if (renormalize && lane == 0) {
    for (int32_t j = 32; j < k; ++j) weights[j] /= denom;
  }
}

}  // namespace hobbit::kernels::cuda_internal
