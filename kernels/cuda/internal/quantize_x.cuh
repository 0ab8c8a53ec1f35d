// The kernel that quantizes activations to Q8 blocks of 32 for the integer dot products of
// internal/dp4a_blocks.cuh (quant_matvec.cu, routed_experts.cu), and the scratch layout they share.
// Internal to kernels/cuda.
#pragma once

#include <cstdint>

#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quantize_block.cuh"

namespace hobbit::kernels::cuda_internal {

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
