#include "kernels/cuda/add.h"

#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void AddRowBiasKernel(float* x, const float* bias, int64_t n, int64_t dim) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += bias[i % dim];
}

}  // namespace

absl::Status AddF32(float* x, const float* y, int64_t n, CUstream_st* stream) {
  if (n <= 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(AddKernel, cuda_internal::GridFor(n, kThreads), kThreads, stream, x, y, n);
  return cuda_internal::LaunchStatus("cuda add");
}

absl::Status AddRowBiasF32(float* x, const float* bias, int64_t n_rows, int64_t dim, CUstream_st* stream) {
  const int64_t n = n_rows * dim;
  if (n <= 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(AddRowBiasKernel, cuda_internal::GridFor(n, kThreads), kThreads, stream, x, bias, n,
                                  dim);
  return cuda_internal::LaunchStatus("cuda add_row_bias");
}

}  // namespace hobbit::kernels
