#include "kernels/cuda/paged_attention.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/attention_group.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/paged_context.cuh"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quantize_block.cuh"

namespace hobbit::kernels {
namespace {

using cuda_internal::ContextOf;
using cuda_internal::ContextRows;
using cuda_internal::LoadKv;
using cuda_internal::Kv4;
using cuda_internal::LoadKv4;
using cuda_internal::ToFloat4;
using cuda_internal::ZeroKv4;


// The per-head decode kernel's threads: 8 warps, so the keys and values of a short context are read in
// one round of loads per warp (each warp scores kScoreChunk positions at once). With 4 warps a
// 40-token context took two rounds of each, and the kernel ran ~11 us a layer in the H200's
// decode timeline (tools/device/kernel_trace); with 8, resident decode at batch 1 ran 2.3 %
// (mixtral shape) and 7.8 % (qwen3-30b-a3b) faster.
constexpr int kDecodeThreads = 256;
// Accumulators per lane for a value row: float4 d4 = lane + 32 c of the row in acc[4c .. 4c + 3]
// (kVec), or dim lane + 32 c in acc[c].
constexpr int kAccPerLane = kPagedAttentionMaxHeadDim / 32;

template <int kBlockWarps>
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
  for (int w = 1; w < kBlockWarps; ++w) r = is_max ? fmaxf(r, scratch[w]) : r + scratch[w];
  return r;
}

constexpr int kScoreChunk = 8;  // positions a warp scores at once (their key loads in flight together)

// One block per (token, query head), in chunks of kThreads context positions: the chunk's cache
// slots first (a thread per position: one round of block-table reads), then warp w scores
// positions w, w + kWarps, ... kScoreChunk at a time (lanes across the key row: coalesced, the
// chunk's loads in flight together), then adds the same positions of the value rows into its own
// partial sums (lanes across the row), which are added across warps at the end. Before, a warp
// read the block table, then the key row, of four positions at a time, and a thread per dim
// walked all positions' value rows: 7.5 us for one mixtral decode token. kVec: head dims % 4 == 0
// and 16-byte aligned rows (4 elements a load). T: the caches' element (float or __half).
template <bool kVec, class T>
__global__ void __launch_bounds__(kDecodeThreads) AttentionKernel(CudaPagedAttentionParams p) {
  constexpr int kThreads = kDecodeThreads, kWarps = kDecodeThreads / 32;
  cuda_internal::AfterPriorGrid();
  __shared__ __align__(16) float q_s[kPagedAttentionMaxHeadDim];
  __shared__ float prob[kThreads];
  __shared__ int64_t slot_s[kThreads];
  __shared__ float scratch[kWarps];
  __shared__ float acc_s[kWarps][kPagedAttentionMaxHeadDim];
  const int32_t t = blockIdx.x / p.n_head;
  const int32_t h = blockIdx.x % p.n_head;
  const int32_t kvh = h / (p.n_head / p.n_head_kv);
  const float* q = p.q + (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_k;
  for (int d = threadIdx.x; d < p.head_dim_k; d += kThreads) q_s[d] = q[d];
  const ContextRows<T> ctx = ContextOf<T>(p, t, kvh);
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int v_units = kVec ? p.head_dim_v / 4 : p.head_dim_v;  // float4s or floats of a value row
  float acc[kAccPerLane] = {};
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  __syncthreads();
  const int k_units = kVec ? p.head_dim_k / 4 : p.head_dim_k;  // float4s or floats of a key row
  // Value rows of at most one float4 per lane (head dims up to 128): the value rows of a warp's
  // first kScoreChunk positions of a chunk are loaded with their key rows, so the sum after the
  // softmax does not wait for a round of loads (one of the few round trips a short context's
  // decode attention is made of).
  const bool v_early = kVec && v_units <= 32;
  Kv4<T> v_first[kScoreChunk];  // as loaded (internal/paged_context.cuh)
  for (int32_t j0 = 0; j0 < ctx.n_ctx; j0 += kThreads) {
    const int32_t j = j0 + threadIdx.x;
    const int32_t n_here = min(kThreads, ctx.n_ctx - j0);
    if (j < ctx.n_ctx) slot_s[threadIdx.x] = ctx.Slot(j, p.block_size);
    __syncthreads();
    for (int32_t i0 = warp; i0 < n_here; i0 += kWarps * kScoreChunk) {
      float dot[kScoreChunk] = {};
      if (v_early && i0 == warp) {
#pragma unroll
        for (int u = 0; u < kScoreChunk; ++u) {
          const int32_t i = i0 + u * kWarps;
          v_first[u] =
              i < n_here && lane < v_units ? LoadKv4(ctx.v_base + slot_s[i] * ctx.v_stride, lane) : ZeroKv4<T>();
        }
      }
      for (int c = lane; c < k_units; c += 32) {
        if constexpr (kVec) {
          // The kScoreChunk positions' keys are all loaded before any is used: dotting each as it
          // arrived made the warp wait for every key in turn (H200 SASS), kScoreChunk round trips.
          Kv4<T> key[kScoreChunk];
#pragma unroll
          for (int u = 0; u < kScoreChunk; ++u) {
            const int32_t i = i0 + u * kWarps;
            key[u] = i < n_here ? LoadKv4(ctx.k_base + slot_s[i] * ctx.k_stride, c) : ZeroKv4<T>();
          }
          const float4 b = reinterpret_cast<const float4*>(q_s)[c];
#pragma unroll
          for (int u = 0; u < kScoreChunk; ++u) {  // positions past the chunk dot zeros, unused
            const float4 a = ToFloat4(key[u]);
            dot[u] = fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, dot[u]))));
          }
        } else {
#pragma unroll
          for (int u = 0; u < kScoreChunk; ++u) {
            const int32_t i = i0 + u * kWarps;
            if (i < n_here) dot[u] = fmaf(LoadKv(ctx.k_base + slot_s[i] * ctx.k_stride, c), q_s[c], dot[u]);
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kScoreChunk; ++u) {
        for (int off = 16; off > 0; off /= 2) dot[u] += __shfl_xor_sync(0xffffffffu, dot[u], off);
        const int32_t i = i0 + u * kWarps;
        if (lane == 0 && i < n_here) prob[i] = dot[u] * p.scale;
      }
    }
    __syncthreads();
    const float score = j < ctx.n_ctx ? prob[threadIdx.x] : -INFINITY;
    const float chunk_max = BlockReduce<kWarps>(score, scratch, true);
    const float new_max = fmaxf(running_max, chunk_max);
    const float e = j < ctx.n_ctx ? expf(score - new_max) : 0.0f;
    prob[threadIdx.x] = e;
    const float chunk_sum = BlockReduce<kWarps>(e, scratch, false);  // its barriers publish prob
    const float rescale = expf(running_max - new_max);       // 0 on the first chunk
    running_sum = running_sum * rescale + chunk_sum;
    running_max = new_max;
#pragma unroll
    for (int c = 0; c < kAccPerLane; ++c) acc[c] *= rescale;
    int32_t i = warp;
    if (v_early) {  // the warp's first kScoreChunk positions, loaded with their keys
#pragma unroll
      for (int u = 0; u < kScoreChunk; ++u, i += kWarps) {
        if (i < n_here && lane < v_units) {
          const float pr = prob[i];
          const float4 x = ToFloat4(v_first[u]);
          acc[0] = fmaf(pr, x.x, acc[0]);
          acc[1] = fmaf(pr, x.y, acc[1]);
          acc[2] = fmaf(pr, x.z, acc[2]);
          acc[3] = fmaf(pr, x.w, acc[3]);
        }
      }
    }
#pragma unroll 8
    for (; i < n_here; i += kWarps) {
      const float pr = prob[i];
      const T* v = ctx.v_base + slot_s[i] * ctx.v_stride;
      if constexpr (kVec) {
#pragma unroll
        for (int c = 0; c < kAccPerLane / 4; ++c) {
          const int d4 = lane + 32 * c;
          if (d4 < v_units) {
            const float4 x = ToFloat4(LoadKv4(v, d4));
            acc[4 * c] = fmaf(pr, x.x, acc[4 * c]);
            acc[4 * c + 1] = fmaf(pr, x.y, acc[4 * c + 1]);
            acc[4 * c + 2] = fmaf(pr, x.z, acc[4 * c + 2]);
            acc[4 * c + 3] = fmaf(pr, x.w, acc[4 * c + 3]);
          }
        }
      } else {
#pragma unroll
        for (int c = 0; c < kAccPerLane; ++c) {
          const int d = lane + 32 * c;
          if (d < v_units) acc[c] = fmaf(pr, LoadKv(v, d), acc[c]);
        }
      }
    }
    __syncthreads();  // prob and slot_s are rewritten by the next chunk
  }
  // The warps' partial sums, added in warp order.
  if constexpr (kVec) {
#pragma unroll
    for (int c = 0; c < kAccPerLane / 4; ++c) {
      const int d4 = lane + 32 * c;
      if (d4 < v_units) {
        reinterpret_cast<float4*>(acc_s[warp])[d4] = make_float4(acc[4 * c], acc[4 * c + 1], acc[4 * c + 2],
                                                                 acc[4 * c + 3]);
      }
    }
  } else {
#pragma unroll
    for (int c = 0; c < kAccPerLane; ++c) {
      if (lane + 32 * c < v_units) acc_s[warp][lane + 32 * c] = acc[c];
    }
  }
  __syncthreads();
  const int64_t out0 = (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_v;
  float* out = p.out + out0;
  const float inv = 1.0f / running_sum;
  auto* xq = static_cast<int8_t*>(p.q8);
  float4* xm = nullptr;
  if (xq != nullptr) {
    const int64_t levels = static_cast<int64_t>(p.n_tokens) * p.n_head * p.head_dim_v;
    xm = reinterpret_cast<float4*>(xq + (levels + 15) / 16 * 16);
  }
  for (int d = threadIdx.x; d < p.head_dim_v; d += kThreads) {  // head_dim_v % 32 == 0 with q8: whole warps
    float sum = acc_s[0][d];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) sum += acc_s[w][d];
    const float v = sum * inv;
    out[d] = v;
    if (xq != nullptr) {  // lanes of a warp hold one block of 32 (d - lane is a multiple of 32)
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
  const auto aligned = [](const void* a) { return reinterpret_cast<uintptr_t>(a) % 16 == 0; };
  const bool vec =
      p.head_dim_k % 4 == 0 && p.head_dim_v % 4 == 0 && aligned(p.q) && aligned(p.k_cache) && aligned(p.v_cache);
  if (cuda_internal::LaunchGroupedPrefill(p, vec, stream)) return cuda_internal::LaunchStatus("cuda attention (grouped)");
  if (const int32_t n_split = cuda_internal::SplitCount(p); vec && n_split > 0 && p.split_scratch != nullptr) {
    if (reinterpret_cast<uintptr_t>(p.split_scratch) % 16 != 0) {
      return absl::InvalidArgumentError("cuda attention: split_scratch is not 16-byte aligned");
    }
    cuda_internal::LaunchSplitDecode(p, n_split, stream);
    return cuda_internal::LaunchStatus("cuda attention (split)");
  }
  const auto grid = static_cast<unsigned>(blocks);
  if (p.kv_type == KvCacheType::kF16) {
    if (vec) cuda_internal::LaunchAfterPrior(AttentionKernel<true, __half>, grid, kDecodeThreads, stream, p);
    if (!vec) cuda_internal::LaunchAfterPrior(AttentionKernel<false, __half>, grid, kDecodeThreads, stream, p);
  } else {
    if (vec) cuda_internal::LaunchAfterPrior(AttentionKernel<true, float>, grid, kDecodeThreads, stream, p);
    if (!vec) cuda_internal::LaunchAfterPrior(AttentionKernel<false, float>, grid, kDecodeThreads, stream, p);
  }
  return cuda_internal::LaunchStatus("cuda attention");
}

}  // namespace hobbit::kernels
