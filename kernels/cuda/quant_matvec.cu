#include "kernels/cuda/quant_matvec.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/matvec_steps.cuh"

namespace hobbit::kernels {
namespace {

using cuda_internal::DispatchStepType;

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

absl::Status QuantMatVec(const QuantMatVecParams& p, CUstream_st* stream) {
  if (!QuantMatVecCanRun(p)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matvec: cannot run type ", GgmlTypeName(p.type), " ",
                                                   p.rows, "x", p.cols, " with ", p.n_tokens,
                                                   " tokens (x must be 16-byte aligned)"));
  }
  DispatchStepType(p.type, [&](auto s) { Launch<decltype(s)>(p, stream); });
  return cuda_internal::LaunchStatus("cuda quant_matvec");
}

}  // namespace hobbit::kernels
