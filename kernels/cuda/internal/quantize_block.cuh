// One block of 32 activations quantized to int8 by a warp, for the integer dot products of
// internal/dp4a_blocks.cuh. Internal to kernels/cuda.
#pragma once

#include <cstdint>

namespace hobbit::kernels::cuda_internal {

inline constexpr int kQ8 = 32;  // activations per Q8 block

// Warp-collective (1-D thread blocks: the lane is threadIdx.x % 32): lane i holds element i of one
// block of 32 activations (v); writes the block's levels to block_q[0..32) and, from lane 0, its
// record {dx, dx * sum of levels 0..15, dx * sum of levels 16..31, 0} to *block_m, with
// dx = max|x| / 127 and levels round(x / dx). Every kernel that quantizes activations for the int8
// dot products does it through this, so they agree bit for bit.
__device__ __forceinline__ void QuantizeBlockOfWarp(float v, int8_t* __restrict__ block_q,
                                                    float4* __restrict__ block_m) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  float amax = fabsf(v);
#pragma unroll
  for (int off = 16; off > 0; off /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
  const float d = amax / 127.0f;
  const int q = amax > 0.0f ? __float2int_rn(v / d) : 0;
  block_q[lane] = static_cast<int8_t>(q);
  int s = q;
#pragma unroll
  for (int off = 8; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);  // per 16 lanes
  const int s_hi = __shfl_sync(0xffffffffu, s, 16);
  if (lane == 0) *block_m = make_float4(d, d * static_cast<float>(s), d * static_cast<float>(s_hi), 0.0f);
}

}  // namespace hobbit::kernels::cuda_internal
