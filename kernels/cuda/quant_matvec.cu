#include "kernels/cuda/quant_matvec.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/dp4a_blocks.cuh"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/quantize_x.cuh"
#include "kernels/cuda/internal/matvec_steps.cuh"

namespace hobbit::kernels {
namespace {

using cuda_internal::AllowDependentLaunch;
using cuda_internal::LaunchAfterPrior;
using cuda_internal::DispatchStepType;
using cuda_internal::kQ8;
using cuda_internal::QuantizeXKernel;
using cuda_internal::WaitForPriorGrid;

constexpr int kWarps = 4;
constexpr int kStageBytes = 2048;                   // shared memory per warp and stage
constexpr int kLoadsPerLane = kStageBytes / 16 / 32;  // 16-byte loads per lane and stage

// The 16-byte granules covering a span [s, e) of W, granule i of floor16(s) in lane i % 32's
// register v[i / 32]. Granules that stick out of the weight [lo, hi) are read byte by byte, so
// nothing outside W is touched whatever its alignment.
struct Span {
  uint4 v[kLoadsPerLane];
  int n_chunks;
};

__device__ __forceinline__ void LoadSpan(const uint8_t* s, const uint8_t* e, const uint8_t* lo, const uint8_t* hi,
                                         int lane, Span& span) {
  const uint8_t* base = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(s) & ~uintptr_t{15});
  span.n_chunks = static_cast<int>((e - base + 15) / 16);
#pragma unroll
  for (int k = 0; k < kLoadsPerLane; ++k) {
    const int i = lane + 32 * k;
    if (i >= span.n_chunks) break;
    const uint8_t* a = base + 16 * i;
    if (a >= lo && a + 16 <= hi) {
      span.v[k] = __ldg(reinterpret_cast<const uint4*>(a));
    } else {
      uint32_t word[4] = {0, 0, 0, 0};
      for (int j = 0; j < 16; ++j) {
        if (a + j >= lo && a + j < hi) word[j / 4] |= static_cast<uint32_t>(a[j]) << (8 * (j % 4));
      }
      span.v[k] = make_uint4(word[0], word[1], word[2], word[3]);
    }
  }
}

// Granule i lands at byte 16i of buf.
__device__ __forceinline__ void StoreSpan(const Span& span, uint32_t* buf, int lane) {
#pragma unroll
  for (int k = 0; k < kLoadsPerLane; ++k) {
    const int i = lane + 32 * k;
    if (i >= span.n_chunks) break;
    reinterpret_cast<uint4*>(buf)[i] = span.v[k];
  }
}

__device__ __forceinline__ float Dot4(const float (&q)[4], float4 x) {
  return fmaf(q[3], x.w, fmaf(q[2], x.z, fmaf(q[1], x.y, q[0] * x.x)));
}

__device__ __forceinline__ float Sum4(float4 x) { return (x.x + x.y) + (x.z + x.w); }

template <class S, int kTok>
__global__ void __launch_bounds__(kWarps * 32) MatVecKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t cols,
                                                             int64_t row_bytes, const float* __restrict__ x,
                                                             int n_tokens, float* __restrict__ y) {
  using B = typename S::Block;
  __shared__ __align__(16) uint32_t stage[kWarps][(kStageBytes + 32) / 4];
  constexpr int kSteps = B::kBlockElems / 8;
  constexpr int kMaxBlocks = (kStageBytes - 32) / B::kBlockBytes;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (row >= rows) return;  // whole warps leave; only __syncwarp is used below
  const uint8_t* hi = w + rows * row_bytes;
  const uint8_t* row_ptr = w + row * row_bytes;
  const int64_t n_blocks = cols / B::kBlockElems;
  const int64_t n_stages = (n_blocks + kMaxBlocks - 1) / kMaxBlocks;
  const int64_t per_stage = (n_blocks + n_stages - 1) / n_stages;  // balanced stages
  uint32_t* buf = stage[warp];
  float acc[kTok];
#pragma unroll
  for (int t = 0; t < kTok; ++t) acc[t] = 0.0f;
  // The next stage's loads are in flight (registers) while this stage is decoded (shared memory).
  Span span;
  LoadSpan(row_ptr, row_ptr + min(per_stage, n_blocks) * B::kBlockBytes, w, hi, lane, span);
  for (int64_t b0 = 0; b0 < n_blocks; b0 += per_stage) {
    const int nb = static_cast<int>(min(per_stage, n_blocks - b0));
    const uint8_t* s = row_ptr + b0 * B::kBlockBytes;
    StoreSpan(span, buf, lane);
    __syncwarp();
    if (b0 + per_stage < n_blocks) {
      const uint8_t* next = s + nb * B::kBlockBytes;
      LoadSpan(next, next + min(per_stage, n_blocks - b0 - per_stage) * B::kBlockBytes, w, hi, lane, span);
    }
    const uint32_t head = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(s) & 15);
    // Consecutive lanes take consecutive steps: consecutive bytes of a block, consecutive x.
    for (int u = lane; u < nb * kSteps; u += 32) {
      cuda_internal::Step st;
      S::Decode(cuda_internal::SmemBlock{buf, head + static_cast<uint32_t>(u / kSteps) * B::kBlockBytes}, u % kSteps, st);
      const float* xb = x + (b0 + u / kSteps) * B::kBlockElems;
#pragma unroll
      for (int t = 0; t < kTok; ++t) {
        if (t < n_tokens) {
          const float4 xa = __ldg(reinterpret_cast<const float4*>(xb + t * cols + st.ea));
          const float4 xc = __ldg(reinterpret_cast<const float4*>(xb + t * cols + st.eb));
          float v = fmaf(st.da, Dot4(st.qa, xa), st.db * Dot4(st.qb, xc));
          if constexpr (S::kHasMin) v -= fmaf(st.ma, Sum4(xa), st.mb * Sum4(xc));
          acc[t] += v;
        }
      }
    }
    __syncwarp();
  }
#pragma unroll
  for (int t = 0; t < kTok; ++t) {
    float v = acc[t];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0 && t < n_tokens) y[t * rows + row] = v;
  }
}

template <class S>
void Launch(const QuantMatVecParams& p, CUstream_st* stream) {
  const unsigned grid = cuda_internal::GridFor(p.rows, kWarps);
  const auto* w = static_cast<const uint8_t*>(p.w);
  const int threads = kWarps * 32;
  if (p.n_tokens == 1) {
    MatVecKernel<S, 1><<<grid, threads, 0, stream>>>(w, p.rows, p.cols, p.row_bytes, p.x, p.n_tokens, p.y);
  } else if (p.n_tokens == 2) {
    MatVecKernel<S, 2><<<grid, threads, 0, stream>>>(w, p.rows, p.cols, p.row_bytes, p.x, p.n_tokens, p.y);
  } else if (p.n_tokens <= 4) {
    MatVecKernel<S, 4><<<grid, threads, 0, stream>>>(w, p.rows, p.cols, p.row_bytes, p.x, p.n_tokens, p.y);
  } else {
    MatVecKernel<S, 8><<<grid, threads, 0, stream>>>(w, p.rows, p.cols, p.row_bytes, p.x, p.n_tokens, p.y);
  }
}

// ---- Fast path: parts of weight blocks straight from global memory (internal/dp4a_blocks.cuh) ----

constexpr int kDotThreads = 128;  // most threads per block of the dot kernel

// The parts of kN items (i, i + stride, ...) of kRows rows: all loads first (in flight together),
// then, after the quantized activations are ready, the dots with every token.
template <class T, int kTok, int kRows, int kN>
__device__ __forceinline__ void DotItems(const uint8_t* const (&row_ptr)[kRows], int i, int stride,
                                         const int8_t* __restrict__ xq, const float4* __restrict__ xm,
                                         const float* __restrict__ xf, int64_t cols, int n_tokens, bool& waited,
                                         float (&acc)[kRows][kTok]) {
  typename T::Part part[kN][kRows];
#pragma unroll
  for (int u = 0; u < kN; ++u) {
    const int item = i + u * stride;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      T::Load(row_ptr[r] + static_cast<int64_t>(item / T::kSubs) * T::kBlockBytes, item % T::kSubs, part[u][r]);
    }
  }
  if (!waited) {
    WaitForPriorGrid();
    waited = true;
  }
#pragma unroll
  for (int t = 0; t < kTok; ++t) {
    if (t < n_tokens) {
#pragma unroll
      for (int u = 0; u < kN; ++u) {
        const int item = i + u * stride;
        const int64_t e = t * cols + static_cast<int64_t>(item / T::kSubs) * T::kBlockElems;
        const cuda_internal::XBlocks xb{xq + e, xm + e / kQ8, xf + e};
#pragma unroll
        for (int r = 0; r < kRows; ++r) acc[r][t] += T::Dot(part[u][r], item % T::kSubs, xb);
      }
    }
  }
}

// The products one launch computes over one x: blocks [first_block[k], first_block[k + 1]) take
// product k (QuantMatVecGroup); a single product is a group of one.
struct DotTarget {
  const uint8_t* w;
  int64_t rows;
  int64_t row_bytes;
  float* y;
};
struct DotTargets {
  DotTarget t[kQuantMatVecMaxGroup];
  unsigned first_block[kQuantMatVecMaxGroup];
  int n;
  bool accumulate;  // y += the products (one product only)
};

// The product block b works on and its first block (unrolled selects: no local-memory copy).
__device__ __forceinline__ int TargetOf(const DotTargets& targets, unsigned b, unsigned& first) {
  int which = 0;
  first = 0;
#pragma unroll
  for (int k = 1; k < kQuantMatVecMaxGroup; ++k) {
    if (k < targets.n && b >= targets.first_block[k]) {
      which = k;
      first = targets.first_block[k];
    }
  }
  return which;
}

// The launch shape of a dot kernel: at most kThreads threads a block (fewer when a row has fewer
// items), kRows rows a block, kUnroll items of each row in flight per thread, and, unless 0, at
// least kMinBlocks blocks resident per multiprocessor (a register cap for the compiler). 0 is
// not the same as 1: an explicit 1 lets ptxas take more registers (Q4_K's 8-token kernel 128 ->
// 139, Q8_0's one-token kernel 72 -> 80) and made those kernels slower.
template <int kThreads, int kRows, int kUnroll, int kMinBlocks = 0>
struct DotShape {
  static constexpr int threads = kThreads, rows = kRows, unroll = kUnroll, min_blocks = kMinBlocks;
};

// S::rows rows per block; the block's threads split each row's (weight block, part) items,
// S::unroll items of S::rows rows at a time.
template <class T, int kTok, class S>
__global__ void __launch_bounds__(S::threads, S::min_blocks) DotKernel(DotTargets targets, int64_t cols,
                                                                        const int8_t* __restrict__ xq,
                                                                        const float4* __restrict__ xm,
                                                                        const float* __restrict__ xf, int n_tokens) {
  constexpr int kRows = S::rows, kUnroll = S::unroll;
  static_assert(kRows * kTok <= 32, "the final sums are written by the first warp");
  AllowDependentLaunch();  // waits below, before it reads x or writes y
  unsigned first = 0;
  const int which = TargetOf(targets, blockIdx.x, first);
  const int64_t row0 = static_cast<int64_t>(blockIdx.x - first) * kRows;
  // Only the row pointers live through the loop; rows and y are read again at the end.
  const uint8_t* w = targets.t[0].w;
  int64_t rows = targets.t[0].rows, row_bytes = targets.t[0].row_bytes;
#pragma unroll
  for (int k = 1; k < kQuantMatVecMaxGroup; ++k) {
    if (k == which) {
      w = targets.t[k].w;
      rows = targets.t[k].rows;
      row_bytes = targets.t[k].row_bytes;
    }
  }
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  const uint8_t* row_ptr[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) row_ptr[r] = w + min(row0 + r, rows - 1) * row_bytes;  // extra rows: not stored
  float acc[kRows][kTok];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int t = 0; t < kTok; ++t) acc[r][t] = 0.0f;
  }
  bool waited = false;
  const int stride = static_cast<int>(blockDim.x);
  int i = static_cast<int>(threadIdx.x);
  for (; i + (kUnroll - 1) * stride < n_items; i += kUnroll * stride) {
    DotItems<T, kTok, kRows, kUnroll>(row_ptr, i, stride, xq, xm, xf, cols, n_tokens, waited, acc);
  }
  for (; i < n_items; i += stride) {
    DotItems<T, kTok, kRows, 1>(row_ptr, i, stride, xq, xm, xf, cols, n_tokens, waited, acc);
  }
  if (!waited) WaitForPriorGrid();  // y may still be read by the previous kernel
  __shared__ float partial[S::threads / 32][kRows * kTok];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int t = 0; t < kTok; ++t) {
      float v = acc[r][t];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
      if (lane == 0) partial[warp][r * kTok + t] = v;
    }
  }
  __syncthreads();
  if (threadIdx.x < kRows * kTok) {
    float* y = targets.t[0].y;
    int64_t rows = targets.t[0].rows;
#pragma unroll
    for (int k = 1; k < kQuantMatVecMaxGroup; ++k) {
      if (k == which) {
        y = targets.t[k].y;
        rows = targets.t[k].rows;
      }
    }
    const int r = threadIdx.x / kTok, t = threadIdx.x % kTok;
    float v = 0.0f;
    for (int k = 0; k < static_cast<int>(blockDim.x / 32); ++k) v += partial[k][threadIdx.x];
    if (t < n_tokens && row0 + r < rows) {
      float& out = y[t * rows + row0 + r];
      out = targets.accumulate ? out + v : v;
    }
  }
}

// Quantized activations in the scratch buffer: levels [n_tokens * cols], then the Q8 metadata.
int64_t ScratchLevelsBytes(int64_t cols, int32_t n_tokens) { return (cols * n_tokens + 15) / 16 * 16; }

// ps[0..n) share type, cols, n_tokens and x (QuantMatVecGroup checked).
template <class T, int kTok, class S>
void LaunchDot(const QuantMatVecParams* ps, int n, const int8_t* xq, const float4* xm, CUstream_st* stream) {
  constexpr int kRows = S::rows;
  const QuantMatVecParams& p = ps[0];
  const int64_t n_items = p.cols / T::kBlockElems * T::kSubs;
  const int threads = static_cast<int>(std::min<int64_t>(S::threads, (n_items + 31) / 32 * 32));
  DotTargets targets{};
  unsigned grid = 0;
  for (int k = 0; k < n; ++k) {
    targets.t[k] = {static_cast<const uint8_t*>(ps[k].w), ps[k].rows, ps[k].row_bytes, ps[k].y};
    targets.first_block[k] = grid;
    grid += cuda_internal::GridFor(ps[k].rows, kRows);
  }
  targets.n = n;
  targets.accumulate = n == 1 && p.accumulate;
  // The weights' loads may start before the kernel before this one has finished: model weights
  // and expert slots are written by no kernel (a slot's copy is complete before the host queues a
  // product over it: the loader waits for it, CudaBackend::WaitCopy) (internal/pdl.cuh).
  LaunchAfterPrior(DotKernel<T, kTok, S>, grid, threads, stream, targets, p.cols, xq, xm, p.x,
                   static_cast<int>(p.n_tokens));
}

template <class T>
bool FastPathFits(const QuantMatVecParams& p) {
  return reinterpret_cast<uintptr_t>(p.w) % T::kAlign == 0 && p.row_bytes % T::kRowAlign == 0 &&
         p.row_bytes >= p.cols / T::kBlockElems * T::kBlockBytes && p.cols % T::kBlockElems == 0 &&
         (!T::kInt8 || (p.cols % kQ8 == 0 && p.scratch != nullptr && reinterpret_cast<uintptr_t>(p.scratch) % 16 == 0 &&
                        p.scratch_bytes >= QuantMatVecScratchBytes(p.cols, p.n_tokens)));
}

// One token's launch shapes: Short for rows of at most kDotThreads items, Long for longer ones.
// The default: 4 rows of one item per thread for short rows (their bytes in flight from more rows
// at once), 2 rows of 2 items for long ones. The others were faster on the H200, in a sweep of
// this kernel and then against the default in one run of cuda-kernel-bench (BENCHMARKS.md,
// "Matvec launch shapes"); the figures are that run's shares of the copy bandwidth at 4096x14336
// (Long) or 14336x4096 (Short), default first.
template <class T>
struct OneTokenShape {
  using Short = DotShape<kDotThreads, 4, 1>;
  using Long = DotShape<kDotThreads, 2, 2>;
};
template <bool kMin>
struct OneTokenShape<cuda_internal::Q45Dot<kMin, false, 1>> {  // Q4_0 57.6 -> 63.0 %, Q4_1 61.1 -> 70.4
  using Short = DotShape<kDotThreads, 4, 1>;
  using Long = DotShape<kDotThreads, 4, 1, 8>;
};
template <>
struct OneTokenShape<cuda_internal::Q2_KDot> {  // 32.2 -> 35.7 %
  using Short = DotShape<kDotThreads, 4, 1>;
  using Long = DotShape<kDotThreads, 4, 1>;
};
template <>
struct OneTokenShape<cuda_internal::Q3_KDot> {  // 35.7 -> 41.4 %
  using Short = DotShape<kDotThreads, 4, 1>;
  using Long = DotShape<kDotThreads, 4, 1>;
};
template <bool kQh>
struct OneTokenShape<cuda_internal::QxKDot<kQh>> {  // Q4_K 51.5 -> 56.6 %, Q5_K 54.3 -> 59.1
  using Short = DotShape<kDotThreads, 4, 1>;
  using Long = DotShape<64, 4, 1>;
};
template <>
struct OneTokenShape<cuda_internal::Q6_KDot> {  // Short 56.2 -> 62.0 % (8 bytes spilled); Long 64 x 4 x 1 lost 2 points
  using Short = DotShape<kDotThreads, 4, 1, 8>;
  using Long = DotShape<kDotThreads, 2, 2>;
};

template <class T>
void LaunchFast(const QuantMatVecParams* ps, int n, CUstream_st* stream) {
  const QuantMatVecParams& p = ps[0];
  int8_t* xq = nullptr;
  float4* xm = nullptr;
  if constexpr (T::kInt8) {
    xq = static_cast<int8_t*>(p.scratch);
    xm = reinterpret_cast<float4*>(xq + ScratchLevelsBytes(p.cols, p.n_tokens));
    const int64_t n_q8 = p.cols * p.n_tokens / kQ8;
    // With x_quantized the dot kernel follows the previous dot kernel instead: that one waited
    // for the quantize kernel before it could finish, so the levels are there once this waits.
    if (!p.x_quantized) {
      LaunchAfterPrior(QuantizeXKernel, cuda_internal::GridFor(n_q8, kDotThreads / 32), kDotThreads, stream, p.x,
                       n_q8, xq, xm);
    }
  }
  if (p.n_tokens == 1) {
    if (p.cols / T::kBlockElems * T::kSubs <= kDotThreads) {
      LaunchDot<T, 1, typename OneTokenShape<T>::Short>(ps, n, xq, xm, stream);
    } else {
      LaunchDot<T, 1, typename OneTokenShape<T>::Long>(ps, n, xq, xm, stream);
    }
  } else if (p.n_tokens == 2) {
    LaunchDot<T, 2, DotShape<kDotThreads, 2, 2>>(ps, n, xq, xm, stream);
  } else if (p.n_tokens <= 4) {
    LaunchDot<T, 4, DotShape<kDotThreads, 4, 1>>(ps, n, xq, xm, stream);
  } else {
    LaunchDot<T, 8, DotShape<kDotThreads, 4, 1>>(ps, n, xq, xm, stream);
  }
}

}  // namespace

bool QuantMatVecCanRun(const QuantMatVecParams& p) {
  bool known = false;
  int64_t block = 0;
  DispatchStepType(p.type, [&](auto s) {
    known = true;
    block = decltype(s)::Block::kBlockElems;
  });
  return known && p.n_tokens >= 1 && p.n_tokens <= kQuantMatVecMaxTokens && p.cols > 0 && p.cols % block == 0 &&
         p.rows > 0 && p.rows < (int64_t{1} << 31) && reinterpret_cast<uintptr_t>(p.x) % 16 == 0;
}

bool QuantMatVecQuantizesX(const QuantMatVecParams& p) {
  if (!QuantMatVecCanRun(p)) return false;
  bool int8 = false;
  cuda_internal::DispatchDotType(p.type, [&](auto d) {
    using T = decltype(d);
    int8 = T::kInt8 && FastPathFits<T>(p);
  });
  return int8;
}

size_t QuantMatVecScratchBytes(int64_t cols, int32_t n_tokens) {
  return static_cast<size_t>(ScratchLevelsBytes(cols, n_tokens) + cols / kQ8 * n_tokens * int64_t{sizeof(float4)});
}

bool QuantMatVecCanAccumulate(const QuantMatVecParams& p) {
  if (!QuantMatVecCanRun(p)) return false;
  bool fits = false;
  cuda_internal::DispatchDotType(p.type, [&](auto d) { fits = FastPathFits<decltype(d)>(p); });
  return fits;
}

absl::Status QuantMatVec(const QuantMatVecParams& p, CUstream_st* stream) {
  if (p.accumulate && !QuantMatVecCanAccumulate(p)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matvec: cannot add into y for type ",
                                                   GgmlTypeName(p.type), " ", p.rows, "x", p.cols));
  }
  if (!QuantMatVecCanRun(p)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matvec: cannot run type ", GgmlTypeName(p.type), " ",
                                                   p.rows, "x", p.cols, " with ", p.n_tokens,
                                                   " tokens (x must be 16-byte aligned)"));
  }
  bool fast = false;
  cuda_internal::DispatchDotType(p.type, [&](auto d) {
    using T = decltype(d);
    if (FastPathFits<T>(p)) {
      LaunchFast<T>(&p, 1, stream);
      fast = true;
    }
  });
  if (!fast) DispatchStepType(p.type, [&](auto s) { Launch<decltype(s)>(p, stream); });
  return cuda_internal::LaunchStatus("cuda quant_matvec");
}

bool QuantMatVecGroupCanRun(std::span<const QuantMatVecParams> ps) {
  if (ps.empty() || ps.size() > static_cast<size_t>(kQuantMatVecMaxGroup)) return false;
  const QuantMatVecParams& p = ps[0];
  unsigned blocks = 0;
  for (const QuantMatVecParams& q : ps) {
    if (q.type != p.type || q.cols != p.cols || q.n_tokens != p.n_tokens || q.x != p.x || q.scratch != p.scratch ||
        q.scratch_bytes != p.scratch_bytes || q.accumulate || !QuantMatVecCanRun(q)) {
      return false;
    }
    bool fits = false;
    cuda_internal::DispatchDotType(q.type, [&](auto d) { fits = FastPathFits<decltype(d)>(q); });
    if (!fits) return false;
    blocks += static_cast<unsigned>((q.rows + 1) / 2);  // at least two rows a block
    if (blocks >= (1u << 30)) return false;
  }
  return true;
}

absl::Status QuantMatVecGroup(std::span<const QuantMatVecParams> ps, CUstream_st* stream) {
  if (!QuantMatVecGroupCanRun(ps)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matvec: cannot run ", ps.size(),
                                                   " products as one group (one type, width, token count, x and "
                                                   "scratch, each on the fast path, at most ",
                                                   kQuantMatVecMaxGroup, ")"));
  }
  cuda_internal::DispatchDotType(ps[0].type, [&](auto d) {
    LaunchFast<decltype(d)>(ps.data(), static_cast<int>(ps.size()), stream);
  });
  return cuda_internal::LaunchStatus("cuda quant_matvec group");
}

}  // namespace hobbit::kernels
