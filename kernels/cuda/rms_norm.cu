#include "kernels/cuda/rms_norm.h"

#include <cuda/atomic>
#include <cuda_fp16.h>

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quantize_x.cuh"
#include "kernels/cuda/internal/router_warp.cuh"
#include "kernels/cuda/internal/row_rms.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ weight, int64_t dim, float eps,
                              float* out) {
  cuda_internal::AfterPriorGrid();
  const float* xr = x + blockIdx.x * dim;
  float* o = out + blockIdx.x * dim;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) sum = fmaf(xr[i], xr[i], sum);
  const float scale = cuda_internal::RowRmsScale<kThreads>(sum, dim, eps);
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) {
    o[i] = weight ? xr[i] * scale * weight[i] : xr[i] * scale;
  }
}

// Rows of dim % 4 == 0, at most kThreads * 4 * kMaxVec elements, 16-byte aligned: the row is read
// once, in float4s held in registers between the sum and the scaling (decode rows are one block
// each, so the kernel's time is its memory round trips).
constexpr int kMaxVec = 8;  // float4s per thread: rows of up to 8192

__global__ void __launch_bounds__(kThreads) RmsNormVec4Kernel(const float* __restrict__ x,
                                                              const float* __restrict__ weight, int64_t dim,
                                                              float eps, float* out) {
  cuda_internal::AfterPriorGrid();
  const int n4 = static_cast<int>(dim / 4);
  const auto* xr = reinterpret_cast<const float4*>(x + blockIdx.x * dim);
  auto* o = reinterpret_cast<float4*>(out + blockIdx.x * dim);
  const auto* w4 = reinterpret_cast<const float4*>(weight);
  float4 v[kMaxVec];
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kMaxVec; ++k) {
    const int i = static_cast<int>(threadIdx.x) + k * kThreads;
    v[k] = i < n4 ? xr[i] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    sum = fmaf(v[k].x, v[k].x, sum);
    sum = fmaf(v[k].y, v[k].y, sum);
    sum = fmaf(v[k].z, v[k].z, sum);
    sum = fmaf(v[k].w, v[k].w, sum);
  }
  const float scale = cuda_internal::RowRmsScale<kThreads>(sum, dim, eps);
#pragma unroll
  for (int k = 0; k < kMaxVec; ++k) {
    const int i = static_cast<int>(threadIdx.x) + k * kThreads;
    if (i >= n4) break;
    float4 r = make_float4(v[k].x * scale, v[k].y * scale, v[k].z * scale, v[k].w * scale);
    if (w4 != nullptr) {
      const float4 g = w4[i];
      r = make_float4(r.x * g.x, r.y * g.y, r.z * g.z, r.w * g.w);
    }
    o[i] = r;
  }
}

constexpr int kQuantWarps = 4;  // Q8 blocks of 32 per block of RmsNormQuantizeKernel
constexpr int kBlockElems = kQuantWarps * 32;
constexpr int kNormVec = 8;  // float4s of the row each thread of RmsNormQuantizeKernel loads at once

// No routing (RmsNormQuantizeF32).
struct NoRoute {};

// Four consecutive router weights of one expert's row, as float32.
template <GgmlType kType>
struct RouterRow {
  __device__ __forceinline__ static float4 Load4(const uint8_t* row, int64_t c) {
    if constexpr (kType == GgmlType::kF32) {
      return __ldg(reinterpret_cast<const float4*>(row + 4 * c));
    } else {
      const uint2 w = __ldg(reinterpret_cast<const uint2*>(row + 2 * c));
      if constexpr (kType == GgmlType::kBF16) {
        return make_float4(__uint_as_float(w.x << 16), __uint_as_float(w.x & 0xFFFF0000u), __uint_as_float(w.y << 16),
                           __uint_as_float(w.y & 0xFFFF0000u));
      } else {
        const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&w.x));
        const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&w.y));
        return make_float4(a.x, a.y, b.x, b.y);
      }
    }
  }
};

constexpr int kRouteChunk = 8;  // experts (then logits) in flight per warp
constexpr int kGroupExperts = kQuantWarps * kRouteChunk;  // experts per block of the routing norm
constexpr int kMaxLogits = 2048;  // n_rows * n_expert a launch may route (kernel shared memory)

// The router weights of experts warp + kQuantWarps * u (u < kRouteChunk) at the lane's four
// columns c (zero where there is no such expert or column).
template <class R>
struct RouterChunk {
  float4 g[kRouteChunk];
  __device__ __forceinline__ void Load(const NormRouteParams& r, int e0, int64_t c, bool in_row) {
#pragma unroll
    for (int u = 0; u < kRouteChunk; ++u) {
      const int e = e0 + u * kQuantWarps;
      g[u] = in_row && e < r.n_expert ? R::Load4(static_cast<const uint8_t*>(r.w) + e * r.row_bytes, c)
                                      : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
  }
};

// The routing half of RmsNormQuantizeRouteF32's kernel. The grid is the row's slices of
// kBlockElems elements times groups of kGroupExperts experts (more blocks than the norm needs:
// qwen3's 128 experts over its 16 slices alone took 25 us, each block reading 64 KB of router);
// block (slice, group) has normalized its slice (vs, zero past the row's end) and holds in
// `first` its group's router weights at those columns, loaded before the kernel waited for the
// one before it (router weights are written by no kernel). It writes its experts' shares of the
// logits (partials[row][slice][expert]); the last block to finish (a counter in the scratch,
// counted by one thread per block with release/acquire order, after a barrier) adds the shares
// in slice order (so the logits do not depend on which block came last), routes every row (a
// warp per row) and sets the counter back to zero for the next launch.
template <class R>
__device__ __forceinline__ void RouteBlock(const NormRouteParams& r, int64_t row, int slice, int nb, int group,
                                           const float* vs, const RouterChunk<R>& first) {
  __shared__ float share[kGroupExperts];
  __shared__ float logit_s[kMaxLogits];
  __shared__ bool last;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int n_rows = static_cast<int>(gridDim.y);
  auto* counter = static_cast<unsigned*>(r.scratch);
  float* partials = reinterpret_cast<float*>(static_cast<uint8_t*>(r.scratch) + 16);
  const float4 v = reinterpret_cast<const float4*>(vs)[lane];
  const int e_end = min(r.n_expert, (group + 1) * kGroupExperts);
#pragma unroll
  for (int u = 0; u < kRouteChunk; ++u) {
    const float4 g = first.g[u];
    float d = fmaf(g.w, v.w, fmaf(g.z, v.z, fmaf(g.y, v.y, g.x * v.x)));
    for (int off = 16; off > 0; off /= 2) d += __shfl_xor_sync(0xffffffffu, d, off);
    const int e = group * kGroupExperts + warp + u * kQuantWarps;
    if (lane == 0 && e < e_end) share[e - group * kGroupExperts] = d;
  }
  __syncthreads();
  float* part = partials + (row * nb + slice) * r.n_expert;
  for (int e = group * kGroupExperts + threadIdx.x; e < e_end; e += kQuantWarps * 32) {
    part[e] = share[e - group * kGroupExperts];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    // Release: the block's shares (ordered before by the barrier) before its count; acquire: the
    // last block reads every other block's shares after it. (A sequentially consistent
    // __threadfence() on either side cost several microseconds on the H200.)
    cuda::atomic_ref<unsigned, cuda::thread_scope_device> count(*counter);
    last = count.fetch_add(1u, cuda::memory_order_acq_rel) == gridDim.x * gridDim.y - 1;
  }
  __syncthreads();
  if (!last) return;
  // Logit (t, e) = pair t * n_expert + e: a thread per pair, its slices' shares loaded together.
  const int pairs = n_rows * r.n_expert;
  for (int pp = threadIdx.x; pp < pairs; pp += kQuantWarps * 32) {
    const int t = pp / r.n_expert, e = pp % r.n_expert;
    const float* shares = partials + static_cast<int64_t>(t) * nb * r.n_expert + e;
    float sum = 0.0f;
#pragma unroll 16
    for (int b = 0; b < nb; ++b) sum += __ldcg(shares + static_cast<int64_t>(b) * r.n_expert);
    logit_s[pp] = sum;
  }
  __syncthreads();
  for (int t = warp; t < n_rows; t += kQuantWarps) {
    float logit[cuda_internal::kRouterPerLane];
#pragma unroll
    for (int i = 0; i < cuda_internal::kRouterPerLane; ++i) {
      const int e = lane + 32 * i;
      logit[i] = -INFINITY;
      if (e < r.n_expert) {
        logit[i] = logit_s[t * r.n_expert + e];
        r.logits[static_cast<int64_t>(t) * r.n_expert + e] = logit[i];
      }
    }
    cuda_internal::RouteTokenOfWarp(logit, r.n_expert, r.k, r.renormalize, r.ids + static_cast<int64_t>(t) * r.k,
                                    r.weights + static_cast<int64_t>(t) * r.k, lane);
  }
  if (threadIdx.x == 0) cuda::atomic_ref<unsigned, cuda::thread_scope_device>(*counter).store(0u, cuda::memory_order_relaxed);
}

// Block (b, r): the row's sum of squares, then warp w normalizes and quantizes elements
// [(b * kQuantWarps + w) * 32, +32) of row r as QuantizeXKernel would (internal/quantize_x.cuh);
// with a router (R not NoRoute) the block then takes its share of the routing (RouteBlock).
template <class R>
__global__ void __launch_bounds__(kQuantWarps * 32) RmsNormQuantizeKernel(const float* __restrict__ x,
                                                                          const float* __restrict__ weight,
                                                                          int64_t dim, float eps,
                                                                          float* __restrict__ out,
                                                                          int8_t* __restrict__ xq,
                                                                          float4* __restrict__ xm, NormRouteParams r) {
  constexpr bool kRoute = !std::is_same_v<R, NoRoute>;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  // Block (slice + n_slices * group): the row's elements [slice * kBlockElems, +kBlockElems) and,
  // routing, the logits' shares of experts [group * kGroupExperts, +kGroupExperts) from them.
  const int n_slices = static_cast<int>((dim / 32 + kQuantWarps - 1) / kQuantWarps);
  const int slice = static_cast<int>(blockIdx.x) % n_slices, group = static_cast<int>(blockIdx.x) / n_slices;
  const int64_t q8 = static_cast<int64_t>(slice) * kQuantWarps + warp;  // block of 32 in the row
  const bool in_row = q8 * 32 < dim;                                     // whole warps
  const int64_t i = q8 * 32 + lane;
  // The norm's weight (written by no kernel) before the wait, as the router's.
  const float g = weight != nullptr && in_row ? __ldg(weight + i) : 1.0f;
  [[maybe_unused]] RouterChunk<std::conditional_t<kRoute, R, RouterRow<GgmlType::kF32>>> first;
  if constexpr (kRoute) {
    cuda_internal::AllowDependentLaunch();
    const int64_t c = static_cast<int64_t>(slice) * kBlockElems + 4 * lane;
    first.Load(r, group * kGroupExperts + warp, c, c < dim);
    cuda_internal::WaitForPriorGrid();
  } else {
    cuda_internal::AfterPriorGrid();
  }
  const int64_t row = blockIdx.y;
  const float* xr = x + row * dim;
  const auto* x4 = reinterpret_cast<const float4*>(xr);
  const int n4 = static_cast<int>(dim / 4);
  // The element this thread normalizes and the row's squares, every load issued at once (rows up
  // to kNormVec * 4 * 128 elements: one round trip to L2; longer rows take more).
  const float xi = in_row ? xr[i] : 0.0f;
  float sum = 0.0f;
  for (int base = 0; base < n4; base += kNormVec * kQuantWarps * 32) {
    float4 v[kNormVec];
#pragma unroll
    for (int k = 0; k < kNormVec; ++k) {
      const int at = base + static_cast<int>(threadIdx.x) + k * kQuantWarps * 32;
      v[k] = at < n4 ? x4[at] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int k = 0; k < kNormVec; ++k) {
      sum = fmaf(v[k].x, v[k].x, sum);
      sum = fmaf(v[k].y, v[k].y, sum);
      sum = fmaf(v[k].z, v[k].z, sum);
      sum = fmaf(v[k].w, v[k].w, sum);
    }
  }
  const float scale = cuda_internal::RowRmsScale<kQuantWarps * 32>(sum, dim, eps);
  float v = 0.0f;
  if (in_row) {
    v = xi * scale * g;
    if (group == 0) {
      const int64_t e = row * dim + i;
      out[e] = v;
      cuda_internal::QuantizeBlockOfWarp(v, xq + (e - lane), xm + e / 32);
    }
  }
  if constexpr (kRoute) {
    __shared__ __align__(16) float vs[kBlockElems];
    vs[threadIdx.x] = v;
    __syncthreads();
    RouteBlock<R>(r, row, slice, n_slices, group, vs, first);
  }
}

dim3 QuantizeGrid(const RmsNormParams& p) {
  const int64_t blocks = (p.dim / cuda_internal::kQ8 + kQuantWarps - 1) / kQuantWarps;
  return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(p.n_rows));
}

}  // namespace

namespace {

bool Aligned16(const void* a) { return reinterpret_cast<uintptr_t>(a) % 16 == 0; }

// RmsNormQuantizeCanRun without the int8 buffer.
bool QuantizeShapeFits(const RmsNormParams& p) {
  return p.n_rows > 0 && p.n_rows <= 65535 && p.dim > 0 && p.dim % cuda_internal::kQ8 == 0 && p.out != p.x &&
         Aligned16(p.x) && Aligned16(p.out) && Aligned16(p.weight);
}

}  // namespace

bool RmsNormQuantizeCanRun(const RmsNormParams& p, const void* q8) {
  return QuantizeShapeFits(p) && q8 != nullptr && Aligned16(q8);
}

absl::Status RmsNormQuantizeF32(const RmsNormParams& p, void* q8, CUstream_st* stream) {
  if (!RmsNormQuantizeCanRun(p, q8)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda rms_norm + quantize: ", p.n_rows, " rows of ", p.dim,
                                                   " (dim a multiple of 32, out apart from x, 16-byte aligned)"));
  }
  auto* xq = static_cast<int8_t*>(q8);
  auto* xm = reinterpret_cast<float4*>(xq + cuda_internal::Q8LevelsBytes(p.dim, p.n_rows));
  cuda_internal::LaunchAfterPrior(RmsNormQuantizeKernel<NoRoute>, QuantizeGrid(p), kQuantWarps * 32, stream, p.x,
                                  p.weight, p.dim, p.eps, p.out, xq, xm, NormRouteParams{});
  return cuda_internal::LaunchStatus("cuda rms_norm + quantize");
}

size_t NormRouteScratchBytes(int64_t n_rows, int64_t dim, int32_t n_expert) {
  const int64_t blocks = (dim / cuda_internal::kQ8 + kQuantWarps - 1) / kQuantWarps;
  return static_cast<size_t>(16 + n_rows * blocks * n_expert * int64_t{sizeof(float)});
}

bool RmsNormQuantizeRouteFits(const RmsNormParams& p, const NormRouteParams& r) {
  const int64_t elem = r.type == GgmlType::kF32 ? 4 : 2;
  const bool type_ok = r.type == GgmlType::kF32 || r.type == GgmlType::kF16 || r.type == GgmlType::kBF16;
  return QuantizeShapeFits(p) && p.n_rows <= kNormRouteMaxRows && p.n_rows * r.n_expert <= kMaxLogits && type_ok &&
         r.w != nullptr && reinterpret_cast<uintptr_t>(r.w) % (4 * elem) == 0 && r.row_bytes >= p.dim * elem &&
         r.row_bytes % (4 * elem) == 0 && r.n_expert > 0 && r.n_expert <= kRouterMaxExperts && r.k > 0 &&
         r.k <= r.n_expert && r.logits != nullptr && r.ids != nullptr && r.weights != nullptr;
}

bool RmsNormQuantizeRouteCanRun(const RmsNormParams& p, const void* q8, const NormRouteParams& r) {
  return RmsNormQuantizeRouteFits(p, r) && q8 != nullptr && Aligned16(q8) && r.scratch != nullptr &&
         Aligned16(r.scratch);
}

absl::Status RmsNormQuantizeRouteF32(const RmsNormParams& p, void* q8, const NormRouteParams& r,
                                     CUstream_st* stream) {
  if (!RmsNormQuantizeRouteCanRun(p, q8, r)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda rms_norm + router: ", p.n_rows, " rows of ", p.dim, ", ", r.n_expert, " experts (top ", r.k,
        ") of type ", GgmlTypeName(r.type), " (F32/F16/BF16 router, at most ", kNormRouteMaxRows, " rows and ",
        kRouterMaxExperts, " experts, aligned)"));
  }
  auto* xq = static_cast<int8_t*>(q8);
  auto* xm = reinterpret_cast<float4*>(xq + cuda_internal::Q8LevelsBytes(p.dim, p.n_rows));
  dim3 grid = QuantizeGrid(p);  // the row's slices, times the groups of experts
  grid.x *= static_cast<unsigned>((r.n_expert + kGroupExperts - 1) / kGroupExperts);
  const auto launch = [&](auto kernel) {
    cuda_internal::LaunchAfterPrior(kernel, grid, kQuantWarps * 32, stream, p.x, p.weight, p.dim, p.eps, p.out, xq,
                                    xm, r);
  };
  if (r.type == GgmlType::kF32) launch(RmsNormQuantizeKernel<RouterRow<GgmlType::kF32>>);
  if (r.type == GgmlType::kF16) launch(RmsNormQuantizeKernel<RouterRow<GgmlType::kF16>>);
  if (r.type == GgmlType::kBF16) launch(RmsNormQuantizeKernel<RouterRow<GgmlType::kBF16>>);
  return cuda_internal::LaunchStatus("cuda rms_norm + router");
}

absl::Status RmsNormF32(const RmsNormParams& p, CUstream_st* stream) {
  if (p.n_rows < 0 || p.n_rows >= (int64_t{1} << 31) || p.dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuda rms_norm: ", p.n_rows, " rows of ", p.dim));
  }
  if (p.n_rows == 0) return absl::OkStatus();
  const auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  if (p.dim % 4 == 0 && p.dim <= int64_t{kThreads} * 4 * kMaxVec && aligned(p.x) && aligned(p.out) &&
      aligned(p.weight)) {
    cuda_internal::LaunchAfterPrior(RmsNormVec4Kernel, static_cast<unsigned>(p.n_rows), kThreads, stream, p.x,
                                    p.weight, p.dim, p.eps, p.out);
  } else {
    cuda_internal::LaunchAfterPrior(RmsNormKernel, static_cast<unsigned>(p.n_rows), kThreads, stream, p.x, p.weight,
                                    p.dim, p.eps, p.out);
  }
  return cuda_internal::LaunchStatus("cuda rms_norm");
}

}  // namespace hobbit::kernels
