#include "kernels/cuda/paged_attention.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quantize_block.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 128;  // also the context positions per chunk
constexpr int kDimsPerThread = kPagedAttentionMaxHeadDim / kThreads;

__device__ __forceinline__ float BlockReduce(float v, float* scratch, bool is_max) {
  for (int off = 16; off > 0; off /= 2) {
    const float o = __shfl_xor_sync(0xffffffffu, v, off);
    v = is_max ? fmaxf(v, o) : v + o;
  }
  __syncthreads();  // scratch may still be read from the previous reduction
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float r = scratch[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) r = is_max ? fmaxf(r, scratch[w]) : r + scratch[w];
  return r;
}

__global__ void __launch_bounds__(kThreads) AttentionKernel(CudaPagedAttentionParams p) {
  cuda_internal::AfterPriorGrid();
  __shared__ float q_s[kPagedAttentionMaxHeadDim];
  __shared__ float prob[kThreads];
  __shared__ int64_t slot_s[kThreads];
  __shared__ float scratch[kThreads / 32];
  const int32_t t = blockIdx.x / p.n_head;
  const int32_t h = blockIdx.x % p.n_head;
  const int32_t kvh = h / (p.n_head / p.n_head_kv);
  const float* q = p.q + (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_k;
  for (int d = threadIdx.x; d < p.head_dim_k; d += kThreads) q_s[d] = q[d];
  const int32_t n_ctx = p.token_pos[t] + 1;
  const int32_t* table = p.block_tables + static_cast<int64_t>(p.token_seq[t]) * p.max_blocks;
  const int64_t k_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_k;
  const int64_t v_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_v;
  float acc[kDimsPerThread] = {};
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  __syncthreads();
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  for (int32_t j0 = 0; j0 < n_ctx; j0 += kThreads) {
    const int32_t j = j0 + threadIdx.x;
    // Scores: a warp per position, its lanes across the head's dims (coalesced reads of the key
    // row, the loads of several positions in flight), the dot summed across the warp.
    const int32_t n_chunk = min(kThreads, n_ctx - j0);
#pragma unroll 4
    for (int32_t i = warp; i < n_chunk; i += kThreads / 32) {
      const int32_t jj = j0 + i;
      const int64_t slot = static_cast<int64_t>(table[jj / p.block_size]) * p.block_size + jj % p.block_size;
      const float* k = p.k_cache + slot * k_stride + static_cast<int64_t>(kvh) * p.head_dim_k;
      float dot = 0.0f;
      for (int d = lane; d < p.head_dim_k; d += 32) dot = fmaf(q_s[d], k[d], dot);
#pragma unroll
      for (int off = 16; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
      if (lane == 0) {
        slot_s[i] = slot;
        prob[i] = dot * p.scale;
      }
    }
    __syncthreads();
    const float score = j < n_ctx ? prob[threadIdx.x] : -INFINITY;
    const float chunk_max = BlockReduce(score, scratch, true);
    const float new_max = fmaxf(running_max, chunk_max);
    const float e = j < n_ctx ? expf(score - new_max) : 0.0f;
    prob[threadIdx.x] = e;
    const float chunk_sum = BlockReduce(e, scratch, false);  // its barriers publish prob and slot_s
    const float rescale = expf(running_max - new_max);       // 0 on the first chunk
    running_sum = running_sum * rescale + chunk_sum;
    running_max = new_max;
    const int32_t n_here = min(kThreads, n_ctx - j0);
#pragma unroll
    for (int k = 0; k < kDimsPerThread; ++k) {
      const int d = threadIdx.x + k * kThreads;
      if (d >= p.head_dim_v) break;
      float a = acc[k] * rescale;
#pragma unroll 8
      for (int32_t i = 0; i < n_here; ++i) {
        const float* v = p.v_cache + slot_s[i] * v_stride + static_cast<int64_t>(kvh) * p.head_dim_v;
        a = fmaf(prob[i], v[d], a);
      }
      acc[k] = a;
    }
    __syncthreads();  // prob and slot_s are rewritten by the next chunk
  }
  const int64_t out0 = (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_v;
  float* out = p.out + out0;
  const float inv = 1.0f / running_sum;
  auto* xq = static_cast<int8_t*>(p.q8);
  float4* xm = nullptr;
  if (xq != nullptr) {
    const int64_t levels = static_cast<int64_t>(p.n_tokens) * p.n_head * p.head_dim_v;
    xm = reinterpret_cast<float4*>(xq + (levels + 15) / 16 * 16);
  }
#pragma unroll
  for (int k = 0; k < kDimsPerThread; ++k) {
    const int d = threadIdx.x + k * kThreads;
    if (d >= p.head_dim_v) break;  // head_dim_v % 32 == 0 with q8: whole warps leave
    const float v = acc[k] * inv;
    out[d] = v;
    if (xq != nullptr) {  // lanes of a warp hold one block of 32 (d - lane is a multiple of 32)
      const int lane = static_cast<int>(threadIdx.x) % 32;
      cuda_internal::QuantizeBlockOfWarp(v, xq + out0 + d - lane, xm + (out0 + d) / 32);
    }
  }
}

}  // namespace

absl::Status PagedAttentionF32(const CudaPagedAttentionParams& p, CUstream_st* stream) {
  if (p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda attention: ", p.n_head, " heads are not a multiple of ", p.n_head_kv, " KV heads"));
  }
  if (p.head_dim_k <= 0 || p.head_dim_v <= 0 || p.head_dim_k > kPagedAttentionMaxHeadDim ||
      p.head_dim_v > kPagedAttentionMaxHeadDim || p.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuda attention: head dims ", p.head_dim_k, "/", p.head_dim_v,
                                                   " (at most ", kPagedAttentionMaxHeadDim, "), block size ",
                                                   p.block_size));
  }
  if (p.q8 != nullptr && (p.head_dim_v % 32 != 0 || reinterpret_cast<uintptr_t>(p.q8) % 16 != 0)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda attention: quantizing the output needs head_dim_v a multiple "
                                                   "of 32 (got ", p.head_dim_v, ") and a 16-byte aligned buffer"));
  }
  const int64_t blocks = static_cast<int64_t>(p.n_tokens) * p.n_head;
  if (blocks <= 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(AttentionKernel, static_cast<unsigned>(blocks), kThreads, stream, p);
  return cuda_internal::LaunchStatus("cuda attention");
}

}  // namespace hobbit::kernels
