#include "kernels/cuda/scale_rows_by_sigmoid.h"

#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void ScaleRowsKernel(float* x, const float* gate, int64_t n, int64_t dim) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float s = 1.0f / (1.0f + expf(-gate[i / dim]));
  x[i] *= s;
}

}  // namespace

absl::Status ScaleRowsBySigmoidF32(float* x, const float* gate, int64_t n_rows, int64_t dim, CUstream_st* stream) {
  const int64_t n = n_rows * dim;
  if (n <= 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(ScaleRowsKernel, cuda_internal::GridFor(n, kThreads), kThreads, stream, x, gate, n,
                                  dim);
  return cuda_internal::LaunchStatus("cuda scale_rows_by_sigmoid");
}

}  // namespace hobbit::kernels
