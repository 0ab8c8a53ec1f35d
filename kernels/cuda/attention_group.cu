// The attention kernels with one block per (token, KV head): grouped prefill and split decode
// (internal/attention_group.h). The per-head decode kernel and the choice between them are in
// paged_attention.cu.
#include "kernels/cuda/internal/attention_group.h"

#include <algorithm>

#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/paged_context.cuh"
#include "kernels/cuda/internal/quantize_block.cuh"

namespace hobbit::kernels {
namespace {

using cuda_internal::ContextOf;
using cuda_internal::ContextRows;
using cuda_internal::Kv4;
using cuda_internal::LoadKv4;
using cuda_internal::ToFloat4;
using cuda_internal::ZeroKv4;

constexpr int kThreads = 128;  // a block's threads; also its context positions per chunk
constexpr int kWarps = kThreads / 32;
constexpr int kGroupMinTokens = 8;
constexpr int kGroupMaxDim = 128;
constexpr int kGroupScoreChunk = 4;

// Split decode ("flash-decoding"): one block per (token, KV head, share of the context). With one
// block per head over the whole context, a decode token's attention ran on n_head blocks, each
// reading its KV head's rows a few kilobytes at a time: ~360 us a layer at 4,000 positions (mixtral
// shape, H200 kernel timeline; BENCHMARKS.md, eighth numbers).
// A share is at least kSplitPositions positions; a bound of B positions takes
// min(kMaxSplits, B / kSplitPositions) blocks per KV head, of which the first ceil(n_ctx / share)
// have positions (the bound is a power-of-two bucket of the longest context in the batch).
constexpr int kSplitPositions = 32;
constexpr int kMaxSplits = 128;
constexpr int kSplitScoreChunk = 8;  // positions a warp scores at once: 4 warps, a share of 32
static_assert(kSplitPositions == kWarps * kSplitScoreChunk);

struct SplitShare {
  int32_t per;     // positions per share, a multiple of kSplitPositions
  int32_t n_live;  // shares with positions
};

__host__ __device__ __forceinline__ SplitShare ShareOf(int32_t n_ctx, int32_t n_split) {
  const int32_t even = (n_ctx + n_split - 1) / n_split;
  const int32_t per = (even + kSplitPositions - 1) / kSplitPositions * kSplitPositions;
  return {per, (n_ctx + per - 1) / per};
}

// The split kernel's records for (token, KV head) tk, share s, head g of the group: the share's
// softmax max and sum at ml[(tk * n_split + s) * G + g], its unnormalized value sums at
// acc[((tk * n_split + s) * G + g) * head_dim_v ...], indexed with the launch's own n_split. Sized
// for kMaxSplits shares of kGroupMinTokens tokens, so one buffer serves every launch.
struct SplitRecords {
  float2* ml;
  float* acc;
};

__host__ __device__ __forceinline__ SplitRecords RecordsOf(void* scratch, int32_t n_head) {
  auto* ml = static_cast<float2*>(scratch);
  return {ml, reinterpret_cast<float*>(ml + int64_t{kGroupMinTokens} * n_head * kMaxSplits)};
}

size_t SplitScratchBytes(int32_t n_head, int32_t head_dim_v) {
  return static_cast<size_t>(int64_t{kGroupMinTokens} * n_head * kMaxSplits *
                             (int64_t{sizeof(float2)} + int64_t{head_dim_v} * int64_t{sizeof(float)}));
}

// One step of WarpReduceScatter: lanes with `upper` keep v[kHalf, 2 kHalf) (moved down to
// v[0, kHalf)), the others v[0, kHalf), each adding its partner's (lane ^ offset) copy.
template <int kHalf, int N>
__device__ __forceinline__ void ReduceScatterStep(float (&v)[N], int offset, bool upper) {
#pragma unroll
  for (int i = 0; i < kHalf; ++i) {
    const float send = upper ? v[i] : v[i + kHalf];
    const float keep = upper ? v[i + kHalf] : v[i];
    v[i] = keep + __shfl_xor_sync(0xffffffffu, send, offset);
  }
}

// The warp's sums of N = 32 R values (v[i] on every lane): afterwards lane L holds the sums of
// values L R .. L R + R - 1 in v[0..R). 31 R shuffles, where reducing each value to every lane
// takes 5 N (the split kernel's 32 or 64 dot products a round spent most of its instructions so).
template <int N>
__device__ __forceinline__ void WarpReduceScatter(float (&v)[N], int lane) {
  static_assert(N % 32 == 0);
  ReduceScatterStep<N / 2>(v, 16, lane & 16);
  ReduceScatterStep<N / 4>(v, 8, lane & 8);
  ReduceScatterStep<N / 8>(v, 4, lane & 4);
  ReduceScatterStep<N / 16>(v, 2, lane & 2);
  ReduceScatterStep<N / 32>(v, 1, lane & 1);
}

// Prefill (kSplit false: more than kGroupMinTokens tokens, no int8 copy of the output), G query
// heads per KV head (2, 4 or 8), head dims of at most kGroupMaxDim, float4 rows: one block per
// (token, KV head) scores and sums the G query heads that read it, so each key and value row is
// read once for the G heads instead of once per head (AttentionKernel's 4 reads a row for
// mixtral's heads, 8 for qwen3's). Nsight put the per-head kernel at 0.42 ms a layer for 512
// mixtral tokens. Warps score kScore positions at a time (a lane per float4 of the key row), then
// warp g (strided) updates head g's running softmax, then every warp adds its positions' value
// rows into all G heads' sums.
// kSplit (decode, G of 1, 2, 4 or 8): block (token, KV head) of the grid's x, share blockIdx.y of
// the context (ShareOf over gridDim.y shares), its figures written to split_scratch
// (SplitRecords) for AttentionCombineKernel.
// kSplit asks for 4 blocks a multiprocessor (2 for groups of 8): the split kernel's time is its
// blocks' memory round trips, hidden only by other blocks (at 130 registers groups of 4 ran 3
// blocks). Groups of 8 need ~200 registers: held to 168 for 3 blocks they spilled, and qwen3's
// long-context decode measured ~9 % below the version before, which ran 2 blocks; at 2 blocks
// qwen3 ran 226-233 tok/s after 4,000 positions, and 243-250 once a warp's keys were loaded
// together (BENCHMARKS.md, ninth numbers).
// T: the caches' element (float or __half).
template <int G, bool kSplit, int kScore, class T>
__global__ void __launch_bounds__(kThreads, kSplit ? (G >= 8 ? 2 : 4) : 1)
    AttentionGroupKernel(CudaPagedAttentionParams p) {
  cuda_internal::AfterPriorGrid();
  __shared__ __align__(16) float q_s[G][kGroupMaxDim];
  __shared__ float prob[G][kThreads];
  __shared__ int64_t slot_s[kThreads];
  __shared__ float max_s[G], sum_s[G], rescale_s[G];
  __shared__ __align__(16) float acc_s[kWarps][G][kGroupMaxDim];
  const int32_t t = blockIdx.x / p.n_head_kv;
  const int32_t kvh = blockIdx.x % p.n_head_kv;
  const int32_t h0 = kvh * G;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const ContextRows<T> ctx = ContextOf<T>(p, t, kvh);
  int32_t j_begin = 0, j_end = ctx.n_ctx;
  if constexpr (kSplit) {
    const SplitShare share = ShareOf(ctx.n_ctx, static_cast<int32_t>(gridDim.y));
    if (static_cast<int32_t>(blockIdx.y) >= share.n_live) return;  // the whole block: no positions here
    j_begin = static_cast<int32_t>(blockIdx.y) * share.per;
    j_end = min(ctx.n_ctx, j_begin + share.per);
  }
  const int k4 = p.head_dim_k / 4;
  if constexpr (kSplit) {  // the G query rows, a float4 a thread (no division: counted instructions matter here)
    const auto* q4 = reinterpret_cast<const float4*>(p.q + (static_cast<int64_t>(t) * p.n_head + h0) * p.head_dim_k);
    for (int g = 0; g < G; ++g) {
      for (int c = threadIdx.x; c < k4; c += kThreads) reinterpret_cast<float4*>(q_s[g])[c] = q4[g * k4 + c];
    }
  } else {
    const float* q = p.q + (static_cast<int64_t>(t) * p.n_head + h0) * p.head_dim_k;
    for (int i = threadIdx.x; i < G * p.head_dim_k; i += kThreads) q_s[i / p.head_dim_k][i % p.head_dim_k] = q[i];
  }
  if (threadIdx.x < G) {
    max_s[threadIdx.x] = -INFINITY;
    sum_s[threadIdx.x] = 0.0f;
  }
  const bool k_lane = lane < k4, v_lane = lane < p.head_dim_v / 4;  // the lane's float4 of a row
  float4 acc[G];
#pragma unroll
  for (int g = 0; g < G; ++g) acc[g] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  // kSplit: the value rows of a warp's first kScore positions of a chunk, loaded with their key
  // rows (a share of kSplitPositions is one such round: its keys and values in one trip to memory).
  [[maybe_unused]] Kv4<T> v_first[kSplit ? kScore : 1];  // as loaded (internal/paged_context.cuh)
  // The first chunk's cache slots, read with the queries (one round trip for both).
  if (j_begin + static_cast<int32_t>(threadIdx.x) < j_end) {
    slot_s[threadIdx.x] = ctx.Slot(j_begin + static_cast<int32_t>(threadIdx.x), p.block_size);
  }
  __syncthreads();
  for (int32_t j0 = j_begin; j0 < j_end; j0 += kThreads) {
    const int32_t j = j0 + threadIdx.x;
    const int32_t n_here = min(kThreads, j_end - j0);
    if (j0 > j_begin) {  // after the previous chunk's last barrier
      if (j < j_end) slot_s[threadIdx.x] = ctx.Slot(j, p.block_size);
      __syncthreads();
    }
    for (int32_t i0 = warp; i0 < n_here; i0 += kWarps * kScore) {
      float dot[kScore * G] = {};  // [u][g]
      if (kSplit && i0 == warp && v_lane) {
#pragma unroll
        for (int u = 0; u < kScore; ++u) {
          const int32_t i = i0 + u * kWarps;
          v_first[u] = i < n_here ? LoadKv4(ctx.v_base + slot_s[i] * ctx.v_stride, lane) : ZeroKv4<T>();
        }
      }
      if (k_lane) {
        // Every position's key is loaded before any is used: dotting each as it arrived made the
        // warp wait for every key in turn (H200 SASS), kScore round trips instead of one.
        Kv4<T> key[kScore];
#pragma unroll
        for (int u = 0; u < kScore; ++u) {
          const int32_t i = i0 + u * kWarps;
          key[u] = i < n_here ? LoadKv4(ctx.k_base + slot_s[i] * ctx.k_stride, lane) : ZeroKv4<T>();
        }
#pragma unroll
        for (int u = 0; u < kScore; ++u) {  // positions past the chunk dot zeros, unused
          const float4 a = ToFloat4(key[u]);
#pragma unroll
          for (int g = 0; g < G; ++g) {
            const float4 b = reinterpret_cast<const float4*>(q_s[g])[lane];
            dot[u * G + g] = fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, a.x * b.x)));
          }
        }
      }
      if constexpr (kSplit && kScore * G % 32 == 0) {
        // Lane L ends with the sums of dot[L R .. L R + R - 1].
        constexpr int R = kScore * G / 32;
        WarpReduceScatter(dot, lane);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const int idx = lane * R + r, u = idx / G, g = idx % G;
          const int32_t i = i0 + u * kWarps;
          if (i < n_here) prob[g][i] = dot[r] * p.scale;
        }
      } else {
#pragma unroll
        for (int u = 0; u < kScore; ++u) {
#pragma unroll
          for (int g = 0; g < G; ++g) {
            float v = dot[u * G + g];
            for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
            const int32_t i = i0 + u * kWarps;
            if (lane == 0 && i < n_here) prob[g][i] = v * p.scale;
          }
        }
      }
    }
    __syncthreads();
    for (int g = warp; g < G; g += kWarps) {
      float m = -INFINITY;
      for (int i = lane; i < n_here; i += 32) m = fmaxf(m, prob[g][i]);
      for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
      const float new_max = fmaxf(max_s[g], m);
      float sum = 0.0f;
      for (int i = lane; i < n_here; i += 32) {
        const float e = expf(prob[g][i] - new_max);
        prob[g][i] = e;
        sum += e;
      }
      for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      __syncwarp();  // every lane has read max_s[g] before lane 0 rewrites it
      if (lane == 0) {
        const float rescale = expf(max_s[g] - new_max);  // 0 on the first chunk
        rescale_s[g] = rescale;
        sum_s[g] = sum_s[g] * rescale + sum;
        max_s[g] = new_max;
      }
    }
    __syncthreads();
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const float r = rescale_s[g];
      acc[g] = make_float4(acc[g].x * r, acc[g].y * r, acc[g].z * r, acc[g].w * r);
    }
    if (v_lane) {
      int32_t i = warp;
      if constexpr (kSplit) {  // the warp's first kScore positions, loaded with their keys
#pragma unroll
        for (int u = 0; u < kScore; ++u, i += kWarps) {
          if (i >= n_here) continue;  // not loaded (a warp past a short chunk's end loaded none)
          const float4 x = ToFloat4(v_first[u]);
#pragma unroll
          for (int g = 0; g < G; ++g) {
            const float pr = prob[g][i];
            acc[g] = make_float4(fmaf(pr, x.x, acc[g].x), fmaf(pr, x.y, acc[g].y), fmaf(pr, x.z, acc[g].z),
                                 fmaf(pr, x.w, acc[g].w));
          }
        }
      }
#pragma unroll kScore
      for (; i < n_here; i += kWarps) {
        const float4 x = ToFloat4(LoadKv4(ctx.v_base + slot_s[i] * ctx.v_stride, lane));
#pragma unroll
        for (int g = 0; g < G; ++g) {
          const float pr = prob[g][i];
          acc[g] = make_float4(fmaf(pr, x.x, acc[g].x), fmaf(pr, x.y, acc[g].y), fmaf(pr, x.z, acc[g].z),
                               fmaf(pr, x.w, acc[g].w));
        }
      }
    }
    __syncthreads();  // prob, slot_s and rescale_s are rewritten by the next chunk
  }
  if (v_lane) {
#pragma unroll
    for (int g = 0; g < G; ++g) reinterpret_cast<float4*>(acc_s[warp][g])[lane] = acc[g];
  }
  __syncthreads();
  if constexpr (kSplit) {
    const SplitRecords rec = RecordsOf(p.split_scratch, p.n_head);
    const int64_t r0 = (static_cast<int64_t>(blockIdx.x) * gridDim.y + blockIdx.y) * G;  // head 0's record
    float* a = rec.acc + r0 * p.head_dim_v;
#pragma unroll
    for (int g = 0; g < G; ++g) {
      for (int d = threadIdx.x; d < p.head_dim_v; d += kThreads) {
        float sum = acc_s[0][g][d];
#pragma unroll
        for (int w = 1; w < kWarps; ++w) sum += acc_s[w][g][d];
        a[g * p.head_dim_v + d] = sum;
      }
    }
    if (threadIdx.x < G) rec.ml[r0 + threadIdx.x] = make_float2(max_s[threadIdx.x], sum_s[threadIdx.x]);
  } else {
    float* out = p.out + (static_cast<int64_t>(t) * p.n_head + h0) * p.head_dim_v;
    for (int idx = threadIdx.x; idx < G * p.head_dim_v; idx += kThreads) {
      const int g = idx / p.head_dim_v, d = idx % p.head_dim_v;
      float sum = acc_s[0][g][d];
#pragma unroll
      for (int w = 1; w < kWarps; ++w) sum += acc_s[w][g][d];
      out[idx] = sum / sum_s[g];
    }
  }
}

// The shares of AttentionGroupKernel<G, true> added for (token, KV head) blockIdx.x and head
// blockIdx.y of its group: kCombineParts parts of head_dim_v threads, part c adding its run of at
// most kCombineBatch shares (all loaded at once: one round trip to L2), thread d of a part a dim;
// then part 0 adds the parts in order (so the result does not depend on which block finished
// first). A loop of one share at a time, each waiting for its loads, took 19 us a layer for 63
// shares (mixtral shape, 4,000 positions). Also writes the int8 copy of the output when q8 is
// given (head_dim_v % 32 == 0: part 0's warps each hold one block of 32).
constexpr int kCombineParts = 4;
constexpr int kCombineBatch = 32;
static_assert(kMaxSplits <= kCombineParts * kCombineBatch && kCombineBatch == 32);

__global__ void __launch_bounds__(kCombineParts * kGroupMaxDim) AttentionCombineKernel(CudaPagedAttentionParams p,
                                                                                      int32_t n_split) {
  __shared__ float part_max[kCombineParts], part_sum[kCombineParts];
  __shared__ float part_acc[kCombineParts][kGroupMaxDim];
  cuda_internal::AfterPriorGrid();
  const int32_t t = blockIdx.x / p.n_head_kv;
  const int G = p.n_head / p.n_head_kv;
  const int g = static_cast<int>(blockIdx.y);
  const int part = static_cast<int>(threadIdx.x) / p.head_dim_v, d = static_cast<int>(threadIdx.x) % p.head_dim_v;
  const SplitShare share = ShareOf(p.token_pos[t] + 1, n_split);
  const int32_t per_part = (share.n_live + kCombineParts - 1) / kCombineParts;
  const int32_t s0 = part * per_part, s1 = min(share.n_live, s0 + per_part);
  const SplitRecords rec = RecordsOf(p.split_scratch, p.n_head);
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * n_split * G + g;  // share 0's record of head g
  // Lane u holds share s0 + u's max and sum (a warp lies in one part: head_dim_v % 32 == 0); every
  // thread its dim's value sums of the part's shares. Written by the kernel before: plain (L2)
  // loads, not read-only ones (pdl.cuh).
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const float2 f = s0 + lane < s1 ? __ldcg(rec.ml + r0 + static_cast<int64_t>(s0 + lane) * G)
                                  : make_float2(-INFINITY, 0.0f);
  float v[kCombineBatch];
#pragma unroll
  for (int u = 0; u < kCombineBatch; ++u) {
    v[u] = s0 + u < s1 ? __ldcg(rec.acc + (r0 + static_cast<int64_t>(s0 + u) * G) * p.head_dim_v + d) : 0.0f;
  }
  float m = f.x;
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  const float w = s0 + lane < s1 ? expf(f.x - m) : 0.0f;  // the lane's share's weight
  float l = f.y * w;
  for (int off = 16; off > 0; off /= 2) l += __shfl_xor_sync(0xffffffffu, l, off);
  float acc = 0.0f;
#pragma unroll
  for (int u = 0; u < kCombineBatch; ++u) acc = fmaf(v[u], __shfl_sync(0xffffffffu, w, u), acc);
  if (d == 0) {
    part_max[part] = m;
    part_sum[part] = l;
  }
  part_acc[part][d] = acc;
  __syncthreads();
  if (part != 0) return;
  float max_all = part_max[0];
#pragma unroll
  for (int c = 1; c < kCombineParts; ++c) max_all = fmaxf(max_all, part_max[c]);  // part 0 has a share
  float sum = 0.0f, out = 0.0f;
#pragma unroll
  for (int c = 0; c < kCombineParts; ++c) {
    const float w = part_sum[c] > 0.0f ? expf(part_max[c] - max_all) : 0.0f;
    sum = fmaf(part_sum[c], w, sum);
    out = fmaf(part_acc[c][d], w, out);
  }
  const int64_t e =
      (static_cast<int64_t>(t) * p.n_head + static_cast<int64_t>(blockIdx.x % p.n_head_kv) * G + g) * p.head_dim_v +
      d;
  const float value = out / sum;
  p.out[e] = value;
  if (p.q8 != nullptr) {
    auto* xq = static_cast<int8_t*>(p.q8);
    const int64_t levels = static_cast<int64_t>(p.n_tokens) * p.n_head * p.head_dim_v;
    auto* xm = reinterpret_cast<float4*>(xq + (levels + 15) / 16 * 16);
    cuda_internal::QuantizeBlockOfWarp(value, xq + e - d % 32, xm + e / 32);
  }
}

}  // namespace

namespace cuda_internal {

bool LaunchGroupedPrefill(const CudaPagedAttentionParams& p, bool vec, CUstream_st* stream) {
  const int group = p.n_head / p.n_head_kv;
  if (!vec || p.q8 != nullptr || p.n_tokens <= kGroupMinTokens || p.head_dim_k > kGroupMaxDim ||
      p.head_dim_v > kGroupMaxDim || !(group == 2 || group == 4 || group == 8)) {
    return false;
  }
  const auto tk = static_cast<unsigned>(static_cast<int64_t>(p.n_tokens) * p.n_head_kv);
  const auto launch = [&]<class T>() {
    if (group == 2) LaunchAfterPrior(AttentionGroupKernel<2, false, kGroupScoreChunk, T>, tk, kThreads, stream, p);
    if (group == 4) LaunchAfterPrior(AttentionGroupKernel<4, false, kGroupScoreChunk, T>, tk, kThreads, stream, p);
    if (group == 8) LaunchAfterPrior(AttentionGroupKernel<8, false, kGroupScoreChunk, T>, tk, kThreads, stream, p);
  };
  if (p.kv_type == KvCacheType::kF16) {
    launch.operator()<__half>();
  } else {
    launch.operator()<float>();
  }
  return true;
}

int32_t SplitCount(const CudaPagedAttentionParams& p) {
  const int group = p.n_head_kv > 0 ? p.n_head / p.n_head_kv : 0;
  const int64_t bound = int64_t{p.max_blocks} * p.block_size;
  if (p.n_tokens < 1 || p.n_tokens > kGroupMinTokens || p.head_dim_k > kGroupMaxDim || p.head_dim_v > kGroupMaxDim ||
      p.head_dim_k % 4 != 0 || p.head_dim_v % 32 != 0 || !(group == 1 || group == 2 || group == 4 || group == 8) ||
      bound <= kAttentionSplitMinContext) {
    return 0;
  }
  return static_cast<int32_t>(std::min<int64_t>(kMaxSplits, (bound + kSplitPositions - 1) / kSplitPositions));
}

void LaunchSplitDecode(const CudaPagedAttentionParams& p, int32_t n_split, CUstream_st* stream) {
  const int group = p.n_head / p.n_head_kv;
  const dim3 grid(static_cast<unsigned>(static_cast<int64_t>(p.n_tokens) * p.n_head_kv), static_cast<unsigned>(n_split));
  const auto launch = [&]<class T>() {
    if (group == 1) LaunchAfterPrior(AttentionGroupKernel<1, true, kSplitScoreChunk, T>, grid, kThreads, stream, p);
    if (group == 2) LaunchAfterPrior(AttentionGroupKernel<2, true, kSplitScoreChunk, T>, grid, kThreads, stream, p);
    if (group == 4) LaunchAfterPrior(AttentionGroupKernel<4, true, kSplitScoreChunk, T>, grid, kThreads, stream, p);
    if (group == 8) LaunchAfterPrior(AttentionGroupKernel<8, true, kSplitScoreChunk, T>, grid, kThreads, stream, p);
  };
  if (p.kv_type == KvCacheType::kF16) {
    launch.operator()<__half>();
  } else {
    launch.operator()<float>();
  }
  LaunchAfterPrior(AttentionCombineKernel, dim3(grid.x, static_cast<unsigned>(group)),
                   static_cast<unsigned>(kCombineParts * p.head_dim_v), stream, p, n_split);
}

}  // namespace cuda_internal

size_t PagedAttentionSplitScratchBytes(const CudaPagedAttentionParams& p) {
  return cuda_internal::SplitCount(p) > 0 ? SplitScratchBytes(p.n_head, p.head_dim_v) : 0;
}

}  // namespace hobbit::kernels
