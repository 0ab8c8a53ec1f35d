// Where a token's context lies in the paged KV cache, for the attention kernels (paged_attention.cu,
// attention_group.cu). Internal to kernels/cuda.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/paged_attention.h"

namespace hobbit::kernels::cuda_internal {

// Where token t's context lies for KV head kvh: its sequence's block table, its length, and the
// KV head's rows in the caches (row of cache slot s at base + s * stride).
struct ContextRows {
  const int32_t* table;
  int32_t n_ctx;
  int64_t k_stride, v_stride;
  const float* k_base;
  const float* v_base;
  // The cache slot of context position j.
  __device__ __forceinline__ int64_t Slot(int32_t j, int32_t block_size) const {
    return static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
  }
};

__device__ __forceinline__ ContextRows ContextOf(const CudaPagedAttentionParams& p, int32_t t, int32_t kvh) {
  const int64_t k_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_k;
  const int64_t v_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_v;
  return {p.block_tables + static_cast<int64_t>(p.token_seq[t]) * p.max_blocks,
          p.token_pos[t] + 1,
          k_stride,
          v_stride,
          p.k_cache + static_cast<int64_t>(kvh) * p.head_dim_k,
          p.v_cache + static_cast<int64_t>(kvh) * p.head_dim_v};
}

}  // namespace hobbit::kernels::cuda_internal
