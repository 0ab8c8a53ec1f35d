// Where a token's context lies in the paged KV cache, for the attention kernels (paged_attention.cu,
// attention_group.cu). Internal to kernels/cuda.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/paged_attention.h"

namespace hobbit::kernels::cuda_internal {

// The caches' elements (p.kv_type): float, or __half read back exactly as float.
__device__ __forceinline__ float LoadKv(const float* row, int d) { return __ldg(row + d); }
__device__ __forceinline__ float LoadKv(const __half* row, int d) { return __half2float(__ldg(row + d)); }
// Elements 4 i .. 4 i + 3 of a row (16-byte aligned float rows, 8-byte aligned half ones): Kv4<T>
// holds them as loaded (float4, or uint2 for half), LoadKv4 loads them and ToFloat4 converts them.
// Kernels that load several rows at once keep them as loaded and convert at use: converting each
// one as it arrives made ptxas wait for it before issuing the next row's load.
template <class T>
struct Kv4Of;
template <>
struct Kv4Of<float> {
  using type = float4;
};
template <>
struct Kv4Of<__half> {
  using type = uint2;
};
template <class T>
using Kv4 = typename Kv4Of<T>::type;

__device__ __forceinline__ float4 LoadKv4(const float* row, int i) {
  return __ldg(reinterpret_cast<const float4*>(row) + i);
}
__device__ __forceinline__ uint2 LoadKv4(const __half* row, int i) {
  return __ldg(reinterpret_cast<const uint2*>(row) + i);
}
__device__ __forceinline__ float4 ToFloat4(float4 r) { return r; }
__device__ __forceinline__ float4 ToFloat4(uint2 r) {
  const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&r.x));
  const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&r.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
// A Kv4 of zeros (positions past the context).
template <class T>
__device__ __forceinline__ Kv4<T> ZeroKv4() {
  return Kv4<T>{};
}

// A cache element written: float as is, __half rounded to nearest even.
__device__ __forceinline__ void StoreKv(float* at, float x) { *at = x; }
__device__ __forceinline__ void StoreKv(__half* at, float x) { *at = __float2half_rn(x); }

// Where token t's context lies for KV head kvh: its sequence's block table, its length, and the
// KV head's rows in the caches of T elements (row of cache slot s at base + s * stride).
template <class T>
struct ContextRows {
  const int32_t* table;
  int32_t n_ctx;
  int64_t k_stride, v_stride;
  const T* k_base;
  const T* v_base;
  // The cache slot of context position j.
  __device__ __forceinline__ int64_t Slot(int32_t j, int32_t block_size) const {
    return static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
  }
};

template <class T>
__device__ __forceinline__ ContextRows<T> ContextOf(const CudaPagedAttentionParams& p, int32_t t, int32_t kvh) {
  const int64_t k_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_k;
  const int64_t v_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_v;
  return {p.block_tables + static_cast<int64_t>(p.token_seq[t]) * p.max_blocks,
          p.token_pos[t] + 1,
          k_stride,
          v_stride,
          static_cast<const T*>(p.k_cache) + static_cast<int64_t>(kvh) * p.head_dim_k,
          static_cast<const T*>(p.v_cache) + static_cast<int64_t>(kvh) * p.head_dim_v};
}

}  // namespace hobbit::kernels::cuda_internal
