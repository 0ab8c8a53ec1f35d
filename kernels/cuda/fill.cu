#include "kernels/cuda/fill.h"

#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void FillKernel(float* x, float value, int64_t n) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = value;
}

}  // namespace

absl::Status FillF32(float* x, float value, int64_t n, CUstream_st* stream) {
  if (n <= 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(FillKernel, cuda_internal::GridFor(n, kThreads), kThreads, stream, x, value, n);
  return cuda_internal::LaunchStatus("cuda fill");
}

}  // namespace hobbit::kernels
