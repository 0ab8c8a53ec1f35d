#include "kernels/cuda/rms_norm.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quantize_x.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ weight, int64_t dim, float eps,
                              float* out) {
  cuda_internal::AfterPriorGrid();
  __shared__ float partial[kThreads / 32];
  const float* xr = x + blockIdx.x * dim;
  float* o = out + blockIdx.x * dim;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) sum = fmaf(xr[i], xr[i], sum);
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  const float scale = rsqrtf(total / static_cast<float>(dim) + eps);
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
  __shared__ float partial[kThreads / 32];
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
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  const float scale = rsqrtf(total / static_cast<float>(dim) + eps);
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

// Block (b, r): the row's sum of squares, then warp w normalizes and quantizes elements
// [(b * kQuantWarps + w) * 32, +32) of row r as QuantizeXKernel would (internal/quantize_x.cuh).
__global__ void __launch_bounds__(kQuantWarps * 32) RmsNormQuantizeKernel(const float* __restrict__ x,
                                                                          const float* __restrict__ weight,
                                                                          int64_t dim, float eps,
                                                                          float* __restrict__ out,
                                                                          int8_t* __restrict__ xq,
                                                                          float4* __restrict__ xm) {
  cuda_internal::AfterPriorGrid();
  __shared__ float partial[kQuantWarps];
  const int64_t row = blockIdx.y;
  const float* xr = x + row * dim;
  const auto* x4 = reinterpret_cast<const float4*>(xr);
  const int n4 = static_cast<int>(dim / 4);
  float sum = 0.0f;
#pragma unroll 4
  for (int i = static_cast<int>(threadIdx.x); i < n4; i += kQuantWarps * 32) {
    const float4 v = x4[i];
    sum = fmaf(v.x, v.x, sum);
    sum = fmaf(v.y, v.y, sum);
    sum = fmaf(v.z, v.z, sum);
    sum = fmaf(v.w, v.w, sum);
  }
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) partial[warp] = sum;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kQuantWarps; ++w) total += partial[w];
  const float scale = rsqrtf(total / static_cast<float>(dim) + eps);
  const int64_t q8 = static_cast<int64_t>(blockIdx.x) * kQuantWarps + warp;  // block of 32 in the row
  if (q8 * 32 >= dim) return;
  const int64_t i = q8 * 32 + lane;
  const float v = weight ? xr[i] * scale * weight[i] : xr[i] * scale;
  const int64_t e = row * dim + i;
  out[e] = v;
  cuda_internal::QuantizeBlockOfWarp(v, xq + (e - lane), xm + e / 32);
}

}  // namespace

bool RmsNormQuantizeCanRun(const RmsNormParams& p, const void* q8) {
  const auto aligned = [](const void* a) { return reinterpret_cast<uintptr_t>(a) % 16 == 0; };
  return p.n_rows > 0 && p.n_rows <= 65535 && p.dim > 0 && p.dim % cuda_internal::kQ8 == 0 && p.out != p.x &&
         q8 != nullptr && aligned(p.x) && aligned(p.out) && aligned(p.weight) && aligned(q8);
}

absl::Status RmsNormQuantizeF32(const RmsNormParams& p, void* q8, CUstream_st* stream) {
  if (!RmsNormQuantizeCanRun(p, q8)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda rms_norm + quantize: ", p.n_rows, " rows of ", p.dim,
                                                   " (dim a multiple of 32, out apart from x, 16-byte aligned)"));
  }
  auto* xq = static_cast<int8_t*>(q8);
  auto* xm = reinterpret_cast<float4*>(xq + cuda_internal::Q8LevelsBytes(p.dim, p.n_rows));
  const dim3 grid(static_cast<unsigned>(p.dim / cuda_internal::kQ8 / kQuantWarps +
                                        (p.dim / cuda_internal::kQ8 % kQuantWarps != 0 ? 1 : 0)),
                  static_cast<unsigned>(p.n_rows));
  cuda_internal::LaunchAfterPrior(RmsNormQuantizeKernel, grid, kQuantWarps * 32, stream, p.x, p.weight, p.dim, p.eps,
                                  p.out, xq, xm);
  return cuda_internal::LaunchStatus("cuda rms_norm + quantize");
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
