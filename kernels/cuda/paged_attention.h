// Causal attention over a paged KV cache on CUDA, for decode and prefill tokens of several
// sequences in one launch.
//
// Caches are [num_blocks, block_size, n_head_kv, head_dim] of float32 or IEEE half (kv_type; half
// elements are read back exactly as float32, every sum is float32). Token t of sequence s at
// position p attends to positions 0..p of s through s's block table; query head h reads KV head
// h / (n_head / n_head_kv). One thread block per (token, head) walks the context in chunks of
// 256 positions (8 warps) with an online (running max) softmax in float32, so any context length
// runs in fixed shared memory. Prefill batches (more than 8 tokens) whose query heads share KV heads in
// groups of 2, 4 or 8 (head dims up to 128) take one block per (token, KV head) instead, which
// reads each key and value row once for its group. Decode batches (at most 8 tokens) whose
// contexts may be long (max_blocks * block_size over kAttentionSplitMinContext), with query heads
// in groups of 1, 2, 4 or 8, head dims up to 128 and value head dims a multiple of 32, split each
// token's context over blocks of 32 or more positions per KV head ("flash-decoding") when given
// split_scratch: each block writes its share's softmax max, sum and unnormalized value sums, and
// a second kernel adds the shares in order.
// Limits: head_dim_k, head_dim_v <= kPagedAttentionMaxHeadDim.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/kv_cache_type.h"

struct CUstream_st;

namespace hobbit::kernels {

inline constexpr int32_t kPagedAttentionMaxHeadDim = 512;

struct CudaPagedAttentionParams {
  const float* q = nullptr;  // device [n_tokens, n_head, head_dim_k]
  float* out = nullptr;      // device [n_tokens, n_head, head_dim_v]
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
  const int32_t* token_seq = nullptr;     // device [n_tokens]
  const int32_t* token_pos = nullptr;     // device [n_tokens]
  const int32_t* block_tables = nullptr;  // device [n_seqs, max_blocks]
  int32_t max_blocks = 0;
  // Optional (head_dim_v a multiple of 32, 16-byte aligned): out also quantized to int8 blocks of
  // 32 for the output product, in QuantMatVec's scratch layout for n_tokens rows of
  // n_head * head_dim_v (the levels, then one 16-byte record per block after them, at their byte
  // count rounded up to 16), as QuantMatVec's own quantization of out would.
  void* q8 = nullptr;
  // Optional, device, PagedAttentionSplitScratchBytes(*this) bytes, 16-byte aligned: lets a decode
  // batch over long contexts split them (see above). Without it, or where the launch does not
  // split (the function returns 0), the kernels run as they would without it.
  void* split_scratch = nullptr;
};

// Contexts up to this many positions (the bound max_blocks * block_size) run unsplit: one block's
// chunk of 256 positions covers them.
inline constexpr int64_t kAttentionSplitMinContext = 256;

// Bytes of split_scratch a launch of this shape needs: 0 where it would not split. The figure
// depends only on the heads and head dims (it covers 8 tokens and the most splits any context
// takes), so one buffer serves every decode step of a model.
size_t PagedAttentionSplitScratchBytes(const CudaPagedAttentionParams& p);

absl::Status PagedAttentionF32(const CudaPagedAttentionParams& p, CUstream_st* stream);

}  // namespace hobbit::kernels
