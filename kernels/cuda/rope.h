// Rotary position embedding on CUDA, in place over [n_tokens, n_heads, head_dim] (and, in the
// same launch, a second tensor such as K, whose rotated rows and V's may go to the KV cache).
//
// Pair i of a head (i < n_rot / 2) rotates by angle pos * freq_scale * base^(-2i / n_rot),
// computed in double precision as the CPU twin does. Adjacent style rotates (x[2i], x[2i+1]);
// half-split (NEOX) style (x[i], x[i + n_rot/2]). Dims at and past n_rot are left as they are.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/kv_cache_type.h"

struct CUstream_st;

namespace hobbit::kernels {

struct CudaRopeParams {
  float* x = nullptr;
  const int32_t* positions = nullptr;  // device [n_tokens]
  int32_t n_tokens = 0;
  int32_t n_heads = 0;
  int32_t head_dim = 0;
  int32_t n_rot = 0;  // even, <= head_dim
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  bool half_split = false;
  // Optional second tensor at the same positions, [n_tokens, n_heads2, head_dim] (K beside Q).
  float* x2 = nullptr;
  int32_t n_heads2 = 0;
  // Optional: each head of x (x2) RMS-normalized over head_dim and scaled by norm (norm2) before
  // it rotates (qwen3's per-head q/k norms), as RmsNormF32 over rows of head_dim would. Read
  // before the kernel waits for the one before it (internal/pdl.cuh): model weights, which no
  // kernel writes.
  const float* norm = nullptr;   // device [head_dim]
  const float* norm2 = nullptr;  // device [head_dim]
  float norm_eps = 1e-6f;
  // Optional, with x2: the rotated x2 rows and v's rows also go to the KV cache at slots[t]
  // (rows of n_heads2 * head_dim and v_row elements of kv_type), as KvWriteF32 writes them.
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  KvCacheType kv_type = KvCacheType::kF32;
  const float* v = nullptr;  // [n_tokens, v_row]
  const int32_t* slots = nullptr;  // device [n_tokens]
  int32_t v_row = 0;
};

absl::Status RopeF32(const CudaRopeParams& p, CUstream_st* stream);

}  // namespace hobbit::kernels
