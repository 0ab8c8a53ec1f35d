#include "kernels/cuda/rope.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/paged_context.cuh"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/row_rms.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kHeadThreads = 64;
constexpr int kTablePairs = 128;  // rotated pairs whose frequencies travel with the launch
static_assert(kHeadThreads <= kTablePairs, "RopeHeadsKernel's one-pair heads read the table");

// base^(-2i / n_rot) for the first kTablePairs pairs, computed on the host as the CPU twin does
// (std::pow), so the kernel does not spend a double-precision pow per element.
struct InvFreqTable {
  double inv_freq[kTablePairs];
};

// Blocks of V's row per token when the cache is written: one per KV head where the row divides
// evenly (a single block copying a 1024-float row took ~6 us of serial load latency).
__host__ __device__ inline int32_t VBlocks(const CudaRopeParams& p) {
  return p.n_heads2 > 0 && p.v_row % p.n_heads2 == 0 ? p.n_heads2 : 1;
}

// Element i of a KV cache of float (f16 false) or __half elements.
__device__ __forceinline__ void PutCache(void* cache, int64_t i, float x, bool f16) {
  if (f16) {
    cuda_internal::StoreKv(static_cast<__half*>(cache) + i, x);
  } else {
    cuda_internal::StoreKv(static_cast<float*>(cache) + i, x);
  }
}

// Block (t, h): head h of token t — h < n_heads a head of x, then the n_heads2 heads of x2, then
// (with a cache) VBlocks(p) blocks copying parts of V's row. Thread i rotates pairs i, i + blockDim, ...
//
// A head of 2 * kHeadThreads dims, all rotated (qwen3's, mixtral's), takes one pair a thread and
// issues every load it needs at once after the wait (its pair, the elements it adds to the
// norm's sum, the position, its norm weights): one round trip instead of three with a per-head
// norm (the sum's loop, then the pair and the weights after the norm's barrier). The same
// operations in the same order as the general loop below. The weights are written above the
// wait, but ptxas places their loads just after it, with the others (H200 SASS).
__global__ void __launch_bounds__(kHeadThreads) RopeHeadsKernel(CudaRopeParams p, InvFreqTable table) {
  const int32_t t = static_cast<int32_t>(blockIdx.x);
  const int32_t h = static_cast<int32_t>(blockIdx.y);
  const bool one_pair = p.n_rot == p.head_dim && p.head_dim == 2 * kHeadThreads && h < p.n_heads + p.n_heads2;
  const int32_t i_pair = static_cast<int32_t>(threadIdx.x);
  const int32_t a_pair = p.half_split ? i_pair : 2 * i_pair;
  const int32_t b_pair = p.half_split ? i_pair + kHeadThreads : 2 * i_pair + 1;
  const float* norm = h >= p.n_heads ? p.norm2 : p.norm;
  float norm_a = 1.0f, norm_b = 1.0f;
  if (one_pair && norm != nullptr) {
    norm_a = __ldg(norm + a_pair);
    norm_b = __ldg(norm + b_pair);
  }
  cuda_internal::AfterPriorGrid();
  const bool kv = p.k_cache != nullptr;
  const bool f16 = p.kv_type == KvCacheType::kF16;
  const int64_t slot = kv ? p.slots[t] : 0;
  if (h >= p.n_heads + p.n_heads2) {  // part j of V's row to the cache
    const int32_t j = h - p.n_heads - p.n_heads2;
    const int64_t chunk = p.v_row / VBlocks(p);
    const float* __restrict__ src = p.v + static_cast<int64_t>(t) * p.v_row + j * chunk;
    const int64_t dst = slot * p.v_row + j * chunk;
    for (int64_t d = threadIdx.x; d < chunk; d += blockDim.x) PutCache(p.v_cache, dst + d, src[d], f16);
    return;
  }
  const bool second = h >= p.n_heads;
  const int32_t head = second ? h - p.n_heads : h;
  float* v = second ? p.x2 + (static_cast<int64_t>(t) * p.n_heads2 + head) * p.head_dim
                    : p.x + (static_cast<int64_t>(t) * p.n_heads + head) * p.head_dim;
  // The head's row in the key cache (element offset), or none.
  const int64_t cache = second && kv ? slot * p.n_heads2 * p.head_dim + static_cast<int64_t>(head) * p.head_dim : -1;
  if (one_pair) {
    const float x0_in = v[a_pair], x1_in = v[b_pair];
    const double position = static_cast<double>(p.positions[t]);
    float scale = 1.0f;
    if (norm != nullptr) {  // the general loop's elements and order: d = i, i + kHeadThreads
      const float s0 = p.half_split ? x0_in : v[i_pair];
      const float s1 = p.half_split ? x1_in : v[i_pair + kHeadThreads];
      scale = cuda_internal::RowRmsScale<kHeadThreads>(fmaf(s1, s1, fmaf(s0, s0, 0.0f)), p.head_dim, p.norm_eps);
    }
    const float x0 = norm != nullptr ? x0_in * scale * norm_a : x0_in;
    const float x1 = norm != nullptr ? x1_in * scale * norm_b : x1_in;
    const double theta = position * p.freq_scale * table.inv_freq[i_pair];  // i < kHeadThreads <= kTablePairs
    double sd, cd;
    sincos(theta, &sd, &cd);
    const float c = static_cast<float>(cd);
    const float s = static_cast<float>(sd);
    const float ra = x0 * c - x1 * s;
    const float rb = x0 * s + x1 * c;
    v[a_pair] = ra;
    v[b_pair] = rb;
    if (cache >= 0) {
      PutCache(p.k_cache, cache + a_pair, ra, f16);
      PutCache(p.k_cache, cache + b_pair, rb, f16);
    }
    return;
  }
  // The head's RMSNorm (all of its reads before any write below).
  float scale = 1.0f;
  if (norm != nullptr) {  // the same for the whole block
    float sum = 0.0f;
    for (int32_t d = threadIdx.x; d < p.head_dim; d += blockDim.x) sum = fmaf(v[d], v[d], sum);
    scale = cuda_internal::RowRmsScale<kHeadThreads>(sum, p.head_dim, p.norm_eps);
  }
  const auto normed = [&](int32_t d) { return norm != nullptr ? v[d] * scale * norm[d] : v[d]; };
  const int32_t half = p.n_rot / 2;
  for (int32_t i = threadIdx.x; i < half; i += blockDim.x) {
    const double inv_freq =
        i < kTablePairs ? table.inv_freq[i] : pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
    const double theta = static_cast<double>(p.positions[t]) * p.freq_scale * inv_freq;
    double sd, cd;
    sincos(theta, &sd, &cd);
    const float c = static_cast<float>(cd);
    const float s = static_cast<float>(sd);
    const int32_t a = p.half_split ? i : 2 * i;
    const int32_t b = p.half_split ? i + half : 2 * i + 1;
    const float x0 = normed(a);
    const float x1 = normed(b);
    const float ra = x0 * c - x1 * s;
    const float rb = x0 * s + x1 * c;
    v[a] = ra;
    v[b] = rb;
    if (cache >= 0) {
      PutCache(p.k_cache, cache + a, ra, f16);
      PutCache(p.k_cache, cache + b, rb, f16);
    }
  }
  for (int32_t d = p.n_rot + threadIdx.x; d < p.head_dim; d += blockDim.x) {  // the dims past n_rot
    if (norm != nullptr) v[d] = normed(d);
    if (cache >= 0) PutCache(p.k_cache, cache + d, v[d], f16);
  }
}

}  // namespace

absl::Status RopeF32(const CudaRopeParams& p, CUstream_st* stream) {
  if (p.n_rot % 2 != 0 || p.n_rot > p.head_dim || p.n_rot < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuda rope: n_rot ", p.n_rot, " must be even and <= head_dim ",
                                                   p.head_dim));
  }
  const bool kv = p.k_cache != nullptr || p.v_cache != nullptr || p.slots != nullptr;
  if ((p.x2 != nullptr) != (p.n_heads2 > 0) || p.n_heads < 0 ||
      (kv && (p.x2 == nullptr || p.k_cache == nullptr || p.v_cache == nullptr || p.v == nullptr ||
              p.slots == nullptr || p.v_row <= 0))) {
    return absl::InvalidArgumentError("cuda rope: x2 needs n_heads2 > 0, a cache write needs x2, both caches, v, "
                                      "slots and v_row");
  }
  if (p.n_tokens <= 0) return absl::OkStatus();
  const int32_t heads = p.n_heads + p.n_heads2 + (kv ? VBlocks(p) : 0);
  if (heads <= 0 || heads > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("cuda rope: ", heads, " heads per token"));
  }
  // The table of the last (base, n_rot) seen on this thread (one model's layers share it).
  thread_local float table_base = 0.0f;
  thread_local int32_t table_rot = -1;
  thread_local InvFreqTable table;
  if (table_base != p.freq_base || table_rot != p.n_rot) {
    for (int32_t i = 0; i < kTablePairs && i < p.n_rot / 2; ++i) {
      table.inv_freq[i] = std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
    }
    table_base = p.freq_base;
    table_rot = p.n_rot;
  }
  cuda_internal::LaunchAfterPrior(RopeHeadsKernel,
                                  dim3(static_cast<unsigned>(p.n_tokens), static_cast<unsigned>(heads)), kHeadThreads,
                                  stream, p, table);
  return cuda_internal::LaunchStatus("cuda rope");
}

}  // namespace hobbit::kernels
