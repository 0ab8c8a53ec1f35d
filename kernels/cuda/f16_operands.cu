#include "kernels/cuda/f16_operands.h"

#include <cuda_fp16.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quant_blocks.cuh"

namespace hobbit::kernels {
namespace {

using cuda_internal::DispatchBlockType;
using cuda_internal::GridFor;

constexpr int kThreads = 128;
constexpr int kRowThreads = 256;  // ScaleToF16: one block per row

__device__ __forceinline__ uint32_t PackHalves(float a, float b) {
  return static_cast<uint32_t>(__half_as_ushort(__float2half_rn(a))) |
         (static_cast<uint32_t>(__half_as_ushort(__float2half_rn(b))) << 16);
}

// One thread per 16-element unit of an output row (32 bytes, two 16-byte stores; consecutive
// threads write consecutive units); blockIdx.y is the output row.
template <class B>
__global__ void __launch_bounds__(kThreads) DequantizeF16Kernel(const uint8_t* __restrict__ w, int64_t cols,
                                                                 int64_t row_bytes, int64_t first_row,
                                                                 uint16_t* __restrict__ out) {
  cuda_internal::AfterPriorGrid();
  const int64_t units = cols / 16;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= units) return;
  const int64_t i = blockIdx.y;
  constexpr int kUnits = B::kBlockElems / 16;
  float v[16];
  B::Unit(w + (first_row + i) * row_bytes + g / kUnits * B::kBlockBytes, static_cast<int>(g % kUnits), v);
  uint32_t h[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) h[k] = PackHalves(v[2 * k], v[2 * k + 1]);
  uint4* o = reinterpret_cast<uint4*>(out + i * cols + g * 16);
  o[0] = make_uint4(h[0], h[1], h[2], h[3]);
  o[1] = make_uint4(h[4], h[5], h[6], h[7]);
}

__global__ void __launch_bounds__(kRowThreads) ScaleToF16Kernel(const float* __restrict__ x, int64_t n_rows,
                                                                 int64_t cols, uint16_t* __restrict__ out,
                                                                 float* __restrict__ scales) {
  cuda_internal::AfterPriorGrid();
  const int64_t row = blockIdx.x;
  if (row >= n_rows) {  // padding
    for (int64_t c = threadIdx.x; c < cols; c += kRowThreads) out[row * cols + c] = 0;
    if (threadIdx.x == 0) scales[row] = 1.0f;
    return;
  }
  const float* xr = x + row * cols;
  float m = 0.0f;
  int bad = 0;
  for (int64_t c = threadIdx.x; c < cols; c += kRowThreads) {
    const float a = fabsf(xr[c]);
    bad |= !isfinite(a);
    m = fmaxf(m, a);
  }
#pragma unroll
  for (int off = 16; off > 0; off /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  __shared__ float warp_max[kRowThreads / 32];
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
  bad = __syncthreads_or(bad);
  m = warp_max[0];
#pragma unroll
  for (int k = 1; k < kRowThreads / 32; ++k) m = fmaxf(m, warp_max[k]);
  int e = 0;
  if (!bad && m > 0.0f) {
    frexpf(m, &e);          // m = f 2^e, f in [0.5, 1): m / 2^(e - 15) in [2^14, 2^15)
    e = max(e - 15, -126);  // 1 / scale stays finite
  }
  const float inv = ldexpf(1.0f, -e);
  if (threadIdx.x == 0) scales[row] = ldexpf(1.0f, e);
  uint16_t* o = out + row * cols;
  for (int64_t c = threadIdx.x; c < cols; c += kRowThreads) o[c] = __half_as_ushort(__float2half_rn(xr[c] * inv));
}

// blockIdx.y (strided) picks rows, the x dimension columns (four a thread when vec).
__global__ void __launch_bounds__(kThreads) ScaleRowsKernel(const float* src, float* dst, int64_t n_rows,
                                                             int64_t cols, bool vec, const float* __restrict__ scales) {
  cuda_internal::AfterPriorGrid();
  const int64_t c = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * (vec ? 4 : 1);
  if (c >= cols) return;
  for (int64_t r = blockIdx.y; r < n_rows; r += gridDim.y) {
    const float s = scales[r];
    if (vec) {
      float4 v = *reinterpret_cast<const float4*>(src + r * cols + c);
      v.x *= s;
      v.y *= s;
      v.z *= s;
      v.w *= s;
      *reinterpret_cast<float4*>(dst + r * cols + c) = v;
    } else {
      dst[r * cols + c] = src[r * cols + c] * s;
    }
  }
}

bool IsQuantizedBlockType(GgmlType t) {
  return t != GgmlType::kF32 && t != GgmlType::kF16 && t != GgmlType::kBF16;
}

}  // namespace

bool DequantizeF16CanRun(GgmlType type, int64_t cols) {
  if (!IsQuantizedBlockType(type) || cols <= 0) return false;
  bool ok = false;
  DispatchBlockType(type, [&](auto b) { ok = cols % decltype(b)::kBlockElems == 0; });
  return ok;
}

absl::Status DequantizeRowsF16(const DequantizeF16Params& p, CUstream_st* stream) {
  if (!DequantizeF16CanRun(p.type, p.cols)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda dequantize_f16: type ", GgmlTypeName(p.type), " with ",
                                                   p.cols, " columns is not supported"));
  }
  if (p.n < 0 || p.n > 65535 || p.first_row < 0 || reinterpret_cast<uintptr_t>(p.out) % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuda dequantize_f16: ", p.n, " rows from row ", p.first_row,
                                                   " (at most 65535 at once, into 16-byte aligned FP16)"));
  }
  if (p.n == 0) return absl::OkStatus();
  const dim3 grid(GridFor(p.cols / 16, kThreads), static_cast<unsigned>(p.n));
  DispatchBlockType(p.type, [&](auto b) {
    cuda_internal::LaunchAfterPrior(DequantizeF16Kernel<decltype(b)>, grid, kThreads, stream,
                                    static_cast<const uint8_t*>(p.w), p.cols, p.row_bytes, p.first_row, p.out);
  });
  return cuda_internal::LaunchStatus("cuda dequantize_f16");
}

absl::Status ScaleToF16(const float* x, int64_t n_rows, int64_t n_out_rows, int64_t cols, uint16_t* out,
                        float* scales, CUstream_st* stream) {
  if (n_rows < 0 || n_out_rows < n_rows || n_out_rows > (int64_t{1} << 31) - 1 || cols <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda scale_to_f16: ", n_rows, " rows (", n_out_rows, " out) of ", cols, " columns"));
  }
  if (n_out_rows == 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(ScaleToF16Kernel, static_cast<unsigned>(n_out_rows), kRowThreads, stream, x, n_rows,
                                  cols, out, scales);
  return cuda_internal::LaunchStatus("cuda scale_to_f16");
}

absl::Status ScaleRowsF32(const float* src, float* dst, int64_t n_rows, int64_t cols, const float* scales,
                          CUstream_st* stream) {
  if (n_rows < 0 || cols <= 0 || cols / kThreads >= (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda scale_rows: ", n_rows, " rows of ", cols, " columns"));
  }
  if (n_rows == 0) return absl::OkStatus();
  // Four columns a thread where every row starts 16-byte aligned (a division per element made
  // this run at 0.4 TB/s).
  const bool vec =
      cols % 4 == 0 && reinterpret_cast<uintptr_t>(src) % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 16 == 0;
  const dim3 grid(GridFor(vec ? cols / 4 : cols, kThreads), static_cast<unsigned>(std::min<int64_t>(n_rows, 65535)));
  cuda_internal::LaunchAfterPrior(ScaleRowsKernel, grid, kThreads, stream, src, dst, n_rows, cols, vec, scales);
  return cuda_internal::LaunchStatus("cuda scale_rows");
}

}  // namespace hobbit::kernels
