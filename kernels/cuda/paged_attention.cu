#include "kernels/cuda/paged_attention.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quantize_block.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 128;  // the grouped (prefill) kernel's; also its context positions per chunk
constexpr int kWarps = kThreads / 32;
// The per-head kernel's (decode): 8 warps, so the keys and values of a short context are read in
// one round of loads per warp (each warp scores kScoreChunk positions at once). With 4 warps a
// 40-token context took two rounds of each, and the kernel ran ~11 us a layer in the H200's
// decode timeline (tools/device/kernel_trace); with 8, resident decode at batch 1 ran 2.3 %
// (mixtral shape) and 7.8 % (qwen3-30b-a3b) faster.
constexpr int kDecodeThreads = 256;
// Accumulators per lane for a value row: float4 d4 = lane + 32 c of the row in acc[4c .. 4c + 3]
// (kVec), or dim lane + 32 c in acc[c].
constexpr int kAccPerLane = kPagedAttentionMaxHeadDim / 32;

template <int kBlockWarps = kWarps>
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
  return {p.block_tables + static_cast<int64_t>(p.token_seq[t]) * p.max_blocks, p.token_pos[t] + 1, k_stride,
          v_stride, p.k_cache + static_cast<int64_t>(kvh) * p.head_dim_k,
          p.v_cache + static_cast<int64_t>(kvh) * p.head_dim_v};
}

constexpr int kScoreChunk = 8;  // positions a warp scores at once (their key loads in flight together)

// One block per (token, query head), in chunks of kThreads context positions: the chunk's cache
// slots first (a thread per position: one round of block-table reads), then warp w scores
// positions w, w + kWarps, ... kScoreChunk at a time (lanes across the key row: coalesced, the
// chunk's loads in flight together), then adds the same positions of the value rows into its own
// partial sums (lanes across the row), which are added across warps at the end. Before, a warp
// read the block table, then the key row, of four positions at a time, and a thread per dim
// walked all positions' value rows: 7.5 us for one mixtral decode token. kVec: head dims % 4 == 0
// and 16-byte aligned rows (float4 loads).
template <bool kVec>
__global__ void __launch_bounds__(kDecodeThreads) AttentionKernel(CudaPagedAttentionParams p) {
  constexpr int kThreads = kDecodeThreads, kWarps = kDecodeThreads / 32;  // this kernel's, not the grouped one's
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
  const ContextRows ctx = ContextOf(p, t, kvh);
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
  float4 v_first[kScoreChunk];
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
          v_first[u] = i < n_here && lane < v_units
                           ? __ldg(reinterpret_cast<const float4*>(ctx.v_base + slot_s[i] * ctx.v_stride) + lane)
                           : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
      }
      for (int c = lane; c < k_units; c += 32) {
#pragma unroll
        for (int u = 0; u < kScoreChunk; ++u) {
          const int32_t i = i0 + u * kWarps;
          if (i < n_here) {
            const float* k = ctx.k_base + slot_s[i] * ctx.k_stride;
            if constexpr (kVec) {
              const float4 a = __ldg(reinterpret_cast<const float4*>(k) + c);
              const float4 b = reinterpret_cast<const float4*>(q_s)[c];
              dot[u] = fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, dot[u]))));
            } else {
              dot[u] = fmaf(__ldg(k + c), q_s[c], dot[u]);
            }
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
          acc[0] = fmaf(pr, v_first[u].x, acc[0]);
          acc[1] = fmaf(pr, v_first[u].y, acc[1]);
          acc[2] = fmaf(pr, v_first[u].z, acc[2]);
          acc[3] = fmaf(pr, v_first[u].w, acc[3]);
        }
      }
    }
#pragma unroll 8
    for (; i < n_here; i += kWarps) {
      const float pr = prob[i];
      const float* v = ctx.v_base + slot_s[i] * ctx.v_stride;
      if constexpr (kVec) {
#pragma unroll
        for (int c = 0; c < kAccPerLane / 4; ++c) {
          const int d4 = lane + 32 * c;
          if (d4 < v_units) {
            const float4 x = __ldg(reinterpret_cast<const float4*>(v) + d4);
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
          if (d < v_units) acc[c] = fmaf(pr, __ldg(v + d), acc[c]);
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

// Prefill (more than kGroupMinTokens tokens, no int8 copy of the output), G query heads per KV
// head (2, 4 or 8), head dims of at most kGroupMaxDim, float4 rows: one block per (token, KV head) scores and sums the
// G query heads that read it, so each key and value row is read once for the G heads instead of once per head
// (AttentionKernel's 4 reads a row for mixtral's heads, 8 for qwen3's). Nsight put the per-head kernel at 0.42 ms a
// layer for 512 mixtral tokens. Warps score kGroupScoreChunk positions at a time (a lane per float4 of the key row),
// then warp g (strided) updates head g's running softmax, then every warp adds its positions' value rows into all G
// heads' sums.
constexpr int kGroupMinTokens = 8;
constexpr int kGroupMaxDim = 128;
constexpr int kGroupScoreChunk = 4;

template <int G>
__global__ void __launch_bounds__(kThreads) AttentionGroupKernel(CudaPagedAttentionParams p) {
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
  const float* q = p.q + (static_cast<int64_t>(t) * p.n_head + h0) * p.head_dim_k;
  for (int i = threadIdx.x; i < G * p.head_dim_k; i += kThreads) q_s[i / p.head_dim_k][i % p.head_dim_k] = q[i];
  if (threadIdx.x < G) {
    max_s[threadIdx.x] = -INFINITY;
    sum_s[threadIdx.x] = 0.0f;
  }
  const ContextRows ctx = ContextOf(p, t, kvh);
  const bool k_lane = lane < p.head_dim_k / 4, v_lane = lane < p.head_dim_v / 4;  // the lane's float4 of a row
  float4 acc[G];
#pragma unroll
  for (int g = 0; g < G; ++g) acc[g] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  __syncthreads();
  for (int32_t j0 = 0; j0 < ctx.n_ctx; j0 += kThreads) {
    const int32_t j = j0 + threadIdx.x;
    const int32_t n_here = min(kThreads, ctx.n_ctx - j0);
    if (j < ctx.n_ctx) slot_s[threadIdx.x] = ctx.Slot(j, p.block_size);
    __syncthreads();
    for (int32_t i0 = warp; i0 < n_here; i0 += kWarps * kGroupScoreChunk) {
      float dot[kGroupScoreChunk][G] = {};
      if (k_lane) {
#pragma unroll
        for (int u = 0; u < kGroupScoreChunk; ++u) {
          const int32_t i = i0 + u * kWarps;
          if (i < n_here) {
            const float4 a = __ldg(reinterpret_cast<const float4*>(ctx.k_base + slot_s[i] * ctx.k_stride) + lane);
#pragma unroll
            for (int g = 0; g < G; ++g) {
              const float4 b = reinterpret_cast<const float4*>(q_s[g])[lane];
              dot[u][g] = fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, a.x * b.x)));
            }
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kGroupScoreChunk; ++u) {
#pragma unroll
        for (int g = 0; g < G; ++g) {
          float v = dot[u][g];
          for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
          const int32_t i = i0 + u * kWarps;
          if (lane == 0 && i < n_here) prob[g][i] = v * p.scale;
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
#pragma unroll 4
      for (int32_t i = warp; i < n_here; i += kWarps) {
        const float4 x = __ldg(reinterpret_cast<const float4*>(ctx.v_base + slot_s[i] * ctx.v_stride) + lane);
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
  float* out = p.out + (static_cast<int64_t>(t) * p.n_head + h0) * p.head_dim_v;
  for (int idx = threadIdx.x; idx < G * p.head_dim_v; idx += kThreads) {
    const int g = idx / p.head_dim_v, d = idx % p.head_dim_v;
    float sum = acc_s[0][g][d];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) sum += acc_s[w][g][d];
    out[idx] = sum / sum_s[g];
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
  const int group = p.n_head / p.n_head_kv;
  if (vec && p.q8 == nullptr && p.n_tokens > kGroupMinTokens && p.head_dim_k <= kGroupMaxDim &&
      p.head_dim_v <= kGroupMaxDim && (group == 2 || group == 4 || group == 8)) {
    const auto grid = static_cast<unsigned>(static_cast<int64_t>(p.n_tokens) * p.n_head_kv);
    if (group == 2) cuda_internal::LaunchAfterPrior(AttentionGroupKernel<2>, grid, kThreads, stream, p);
    if (group == 4) cuda_internal::LaunchAfterPrior(AttentionGroupKernel<4>, grid, kThreads, stream, p);
    if (group == 8) cuda_internal::LaunchAfterPrior(AttentionGroupKernel<8>, grid, kThreads, stream, p);
    return cuda_internal::LaunchStatus("cuda attention (grouped)");
  }
  if (vec) {
    cuda_internal::LaunchAfterPrior(AttentionKernel<true>, static_cast<unsigned>(blocks), kDecodeThreads, stream, p);
  } else {
    cuda_internal::LaunchAfterPrior(AttentionKernel<false>, static_cast<unsigned>(blocks), kDecodeThreads, stream, p);
  }
  return cuda_internal::LaunchStatus("cuda attention");
}

}  // namespace hobbit::kernels
