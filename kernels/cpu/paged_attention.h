// Causal attention over a paged KV cache on the CPU, for a batch of tokens of several sequences.
//
// Caches are [num_blocks, block_size, n_head_kv, head_dim] of float32 or IEEE half (kv_type;
// half rows are read back exactly as float32, and every sum stays float32). Token t of sequence s at
// position p attends to positions 0..p of s, found through s's block table. Query head h reads
// KV head h / (n_head / n_head_kv). Softmax in float32 with the running-max trick.
#pragma once

#include <cstdint>

#include "kernels/base/kv_cache_type.h"

namespace hobbit::kernels {

class ThreadPool;

struct PagedAttentionF32Params {
  const float* q = nullptr;  // [n_tokens, n_head, head_dim_k]
  float* out = nullptr;      // [n_tokens, n_head, head_dim_v]
  int32_t n_tokens = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim_k = 0;
  int32_t head_dim_v = 0;
  float scale = 1.0f;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  KvCacheType kv_type = KvCacheType::kF32;
  int32_t block_size = 0;
  const int32_t* token_seq = nullptr;     // [n_tokens]
  const int32_t* token_pos = nullptr;     // [n_tokens]
  const int32_t* block_tables = nullptr;  // [n_seqs, max_blocks]
  int32_t max_blocks = 0;
};

void PagedAttentionF32(const PagedAttentionF32Params& p, ThreadPool* pool);

}  // namespace hobbit::kernels
