#include "kernels/cuda/get_rows.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quant_blocks.cuh"

namespace hobbit::kernels {
namespace {

using cuda_internal::DispatchBlockType;

constexpr int kThreads = 128;

// One thread per 16-element unit of an output row; blockIdx.y is the output row.
template <class B>
__global__ void GetRowsKernel(const uint8_t* __restrict__ w, int64_t cols, int64_t row_bytes,
                              const int32_t* __restrict__ ids, int64_t first_row, float* __restrict__ out) {
  cuda_internal::AfterPriorGrid();
  const int64_t units = cols / 16;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= units) return;
  const int64_t i = blockIdx.y;
  const int64_t row = ids ? ids[i] : first_row + i;
  constexpr int kUnits = B::kBlockElems / 16;
  const int64_t blk = g / kUnits;
  float v[16];
  B::Unit(w + row * row_bytes + blk * B::kBlockBytes, static_cast<int>(g % kUnits), v);
  // Four 16-byte stores: scalar ones (64 bytes apart across a warp) made this kernel, the
  // prefill products' weight decoder, run at 0.3 TB/s on the H200.
  float* o = out + i * cols + g * 16;
  if (reinterpret_cast<uintptr_t>(out) % 16 == 0) {  // the same for every thread
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      reinterpret_cast<float4*>(o)[k] = make_float4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
    }
  } else {
#pragma unroll
    for (int k = 0; k < 16; ++k) o[k] = v[k];
  }
}

// Plain types, any row length: one thread per element, coalesced.
template <GgmlType kType>
__global__ void GetPlainRowsKernel(const uint8_t* __restrict__ w, int64_t cols, int64_t row_bytes,
                                   const int32_t* __restrict__ ids, int64_t first_row, float* __restrict__ out) {
  cuda_internal::AfterPriorGrid();
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const int64_t i = blockIdx.y;
  const int64_t row = ids ? ids[i] : first_row + i;
  const uint8_t* r = w + row * row_bytes;
  float v;
  if constexpr (kType == GgmlType::kF32) {
    v = reinterpret_cast<const float*>(r)[c];
  } else if constexpr (kType == GgmlType::kF16) {
    v = __half2float(reinterpret_cast<const __half*>(r)[c]);
  } else {
    v = __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(r)[c]) << 16);
  }
  out[i * cols + c] = v;
}

bool IsPlain(GgmlType t) { return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16; }

}  // namespace

bool GetRowsCanRun(GgmlType type, int64_t cols) {
  if (IsPlain(type)) return cols > 0;
  bool ok = false;
  DispatchBlockType(type, [&](auto b) { ok = cols > 0 && cols % decltype(b)::kBlockElems == 0; });
  return ok;
}

absl::Status GetRowsF32(const GetRowsParams& p, CUstream_st* stream) {
  if (!GetRowsCanRun(p.type, p.cols)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda get_rows: type ", GgmlTypeName(p.type), " with ", p.cols,
                                                   " columns is not supported"));
  }
  if (p.n < 0 || p.n > 65535 || (p.ids == nullptr && (p.first_row < 0 || p.first_row + p.n > p.rows))) {
    return absl::InvalidArgumentError(absl::StrCat("cuda get_rows: rows [", p.first_row, ", ", p.first_row + p.n,
                                                   ") of a ", p.rows, "-row matrix (at most 65535 at once)"));
  }
  if (p.n == 0) return absl::OkStatus();
  const auto* w = static_cast<const uint8_t*>(p.w);
  const int64_t elem = p.type == GgmlType::kF32 ? 4 : 2;
  const bool aligned = reinterpret_cast<uintptr_t>(w) % elem == 0 && p.row_bytes % elem == 0;
  if (IsPlain(p.type) && !aligned && p.cols % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuda get_rows: ", GgmlTypeName(p.type),
                                                   " rows must be element-aligned unless cols % 16 == 0"));
  }
  if (IsPlain(p.type) && aligned) {
    const dim3 grid(cuda_internal::GridFor(p.cols, kThreads), static_cast<unsigned>(p.n));
    if (p.type == GgmlType::kF32) {
      cuda_internal::LaunchAfterPrior(GetPlainRowsKernel<GgmlType::kF32>, grid, kThreads, stream, w, p.cols,
                                      p.row_bytes, p.ids, p.first_row, p.out);
    } else if (p.type == GgmlType::kF16) {
      cuda_internal::LaunchAfterPrior(GetPlainRowsKernel<GgmlType::kF16>, grid, kThreads, stream, w, p.cols,
                                      p.row_bytes, p.ids, p.first_row, p.out);
    } else {
      cuda_internal::LaunchAfterPrior(GetPlainRowsKernel<GgmlType::kBF16>, grid, kThreads, stream, w, p.cols,
                                      p.row_bytes, p.ids, p.first_row, p.out);
    }
    return cuda_internal::LaunchStatus("cuda get_rows");
  }
  const dim3 grid(cuda_internal::GridFor(p.cols / 16, kThreads), static_cast<unsigned>(p.n));
  DispatchBlockType(p.type, [&](auto b) {
    cuda_internal::LaunchAfterPrior(GetRowsKernel<decltype(b)>, grid, kThreads, stream, w, p.cols, p.row_bytes, p.ids,
                                    p.first_row, p.out);
  });
  return cuda_internal::LaunchStatus("cuda get_rows");
}

}  // namespace hobbit::kernels
