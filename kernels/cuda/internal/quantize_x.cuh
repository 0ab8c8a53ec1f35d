// Activations quantized to Q8 blocks of 32 for the integer dot products of internal/dp4a_blocks.cuh,
// and the programmatic-dependent-launch helpers the decode kernels share (quant_matvec.cu,
// routed_experts.cu). Internal to kernels/cuda.
#pragma once

#include <cstdint>

#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels::cuda_internal {

inline constexpr int kQ8 = 32;  // activations per Q8 block

// Warp-collective: lane i holds element i of one block of 32 activations (v); writes the block's
// levels to block_q[0..32) and, from lane 0, its record {dx, dx * sum of levels 0..15, dx * sum of
// levels 16..31, 0} to *block_m, with dx = max|x| / 127 and levels round(x / dx). Every kernel that
// quantizes activations for the int8 dot products does it through this, so they agree bit for bit.
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

// Internal linkage: each .cu that includes this gets its own copy of the kernel.
namespace {

// One warp per Q8 block of x ([n_tokens, cols] read as n_q8 blocks of 32): levels round(x / dx)
// with dx = max|x| / 127, and {dx, dx * sum of levels 0..15, dx * sum of levels 16..31, 0}.
__global__ void __launch_bounds__(128) QuantizeXKernel(const float* __restrict__ x, int64_t n_q8,
                                                       int8_t* __restrict__ xq, float4* __restrict__ xm) {
  WaitForPriorGrid();
  AllowDependentLaunch();
  const int64_t b = static_cast<int64_t>(blockIdx.x) * (128 / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (b >= n_q8) return;
  QuantizeBlockOfWarp(x[b * kQ8 + lane], xq + b * kQ8, xm + b);
}

}  // namespace

// Bytes of the levels of n_rows rows of cols activations, rounded up to 16; the Q8 metadata
// (one float4 per block) follows them in a scratch buffer.
inline int64_t Q8LevelsBytes(int64_t cols, int64_t n_rows) { return (cols * n_rows + 15) / 16 * 16; }
inline int64_t Q8ScratchBytes(int64_t cols, int64_t n_rows) { return Q8LevelsBytes(cols, n_rows) + cols / kQ8 * n_rows * 16; }

}  // namespace hobbit::kernels::cuda_internal
