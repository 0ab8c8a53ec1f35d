// KvWrite on CUDA: copies the K and V rows of a step into the paged cache at their slots
// (slot = block * block_size + offset in the block; row width n_head_kv * head_dim), as float32
// or, for a half cache (kv_type), rounded to nearest even.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/kv_cache_type.h"

struct CUstream_st;

namespace hobbit::kernels {

struct KvWriteF32Params {
  const float* k = nullptr;  // device [n_tokens, k_row]
  const float* v = nullptr;  // device [n_tokens, v_row]
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  KvCacheType kv_type = KvCacheType::kF32;
  const int32_t* slots = nullptr;  // device [n_tokens]
  int32_t n_tokens = 0;
  int32_t k_row = 0;
  int32_t v_row = 0;
};

absl::Status KvWriteF32(const KvWriteF32Params& p, CUstream_st* stream);

}  // namespace hobbit::kernels
