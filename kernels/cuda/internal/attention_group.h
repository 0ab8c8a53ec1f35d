// The attention kernels that run one block per (token, KV head) (attention_group.cu): grouped
// prefill and split decode. PagedAttentionF32 (paged_attention.cu) picks which kernel runs; the
// header comment of paged_attention.h says when. Internal to kernels/cuda.
#pragma once

#include <cstdint>

#include "kernels/cuda/paged_attention.h"

struct CUstream_st;

namespace hobbit::kernels::cuda_internal {

// Prefill batches (more than 8 tokens) whose query heads share KV heads in groups of 2, 4 or 8,
// head dims up to 128, without the int8 copy, float4 rows (vec): launches the grouped kernel and
// returns true; otherwise launches nothing and returns false.
bool LaunchGroupedPrefill(const CudaPagedAttentionParams& p, bool vec, CUstream_st* stream);

// Shares per KV head a decode launch splits its contexts into; 0: it does not split (the shape
// does not fit the split kernel, or the contexts are short). Ignores split_scratch.
int32_t SplitCount(const CudaPagedAttentionParams& p);

// The split kernel over n_split shares a KV head (SplitCount), then the kernel adding the shares;
// p.split_scratch holds PagedAttentionSplitScratchBytes(p) bytes, 16-byte aligned; float4 rows.
void LaunchSplitDecode(const CudaPagedAttentionParams& p, int32_t n_split, CUstream_st* stream);

}  // namespace hobbit::kernels::cuda_internal
