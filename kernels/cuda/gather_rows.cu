#include "kernels/cuda/gather_rows.h"

#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

// blockIdx.y is the row index i.
__global__ void GatherKernel(const float* src, const int32_t* rows, int64_t dim, float* dst) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < dim) dst[i * dim + c] = src[rows[i] * dim + c];
}

__global__ void ScatterAddKernel(const float* src, const int32_t* rows, const float* scales, int64_t dim,
                                 float* dst) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < dim) atomicAdd(dst + rows[i] * dim + c, scales[i] * src[i * dim + c]);
}

}  // namespace

absl::Status GatherRowsF32(const float* src, const int32_t* rows, int32_t n, int64_t dim, float* dst,
                           CUstream_st* stream) {
  if (n <= 0 || dim <= 0) return absl::OkStatus();
  const dim3 grid(cuda_internal::GridFor(dim, kThreads), static_cast<unsigned>(n));
  cuda_internal::LaunchAfterPrior(GatherKernel, grid, kThreads, stream, src, rows, dim, dst);
  return cuda_internal::LaunchStatus("cuda gather_rows");
}

absl::Status ScatterAddScaledF32(const float* src, const int32_t* rows, const float* scales, int32_t n, int64_t dim,
                                 float* dst, CUstream_st* stream) {
  if (n <= 0 || dim <= 0) return absl::OkStatus();
  const dim3 grid(cuda_internal::GridFor(dim, kThreads), static_cast<unsigned>(n));
  cuda_internal::LaunchAfterPrior(ScatterAddKernel, grid, kThreads, stream, src, rows, scales, dim, dst);
  return cuda_internal::LaunchStatus("cuda scatter_add_scaled");
}

}  // namespace hobbit::kernels
