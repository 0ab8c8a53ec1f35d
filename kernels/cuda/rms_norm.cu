#include "kernels/cuda/rms_norm.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ weight, int64_t dim, float eps,
                              float* out) {
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

}  // namespace

absl::Status RmsNormF32(const RmsNormParams& p, CUstream_st* stream) {
  if (p.n_rows < 0 || p.n_rows >= (int64_t{1} << 31) || p.dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuda rms_norm: ", p.n_rows, " rows of ", p.dim));
  }
  if (p.n_rows == 0) return absl::OkStatus();
  RmsNormKernel<<<static_cast<unsigned>(p.n_rows), kThreads, 0, stream>>>(p.x, p.weight, p.dim, p.eps, p.out);
  return cuda_internal::LaunchStatus("cuda rms_norm");
}

}  // namespace hobbit::kernels
