// The RMS scale of a row summed by one thread block, shared by the RMSNorm kernels (rms_norm.cu)
// and RoPE's per-head norms (rope.cu). Internal to kernels/cuda.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace hobbit::kernels::cuda_internal {

// 1 / sqrt(mean of squares + eps) of a row of `dim` elements, from each thread's partial sum of
// squares over its elements, for a block of kThreads threads. Every thread of the block calls it
// (it holds a barrier) and gets the same value (the warps' sums are added in warp order). Once per
// kernel: there is no barrier after the reads of its shared sums.
template <int kThreads>
__device__ __forceinline__ float RowRmsScale(float sum, int64_t dim, float eps) {
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  return rsqrtf(total / static_cast<float>(dim) + eps);
}

}  // namespace hobbit::kernels::cuda_internal
