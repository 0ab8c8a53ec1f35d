#include "kernels/cuda/silu_mul.h"

#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void SiluMulKernel(const float* gate, const float* up, int64_t n, float* out) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  out[i] = g / (1.0f + expf(-g)) * up[i];
}

}  // namespace

absl::Status SiluMulF32(const float* gate, const float* up, int64_t n, float* out, CUstream_st* stream) {
  if (n <= 0) return absl::OkStatus();
  cuda_internal::LaunchAfterPrior(SiluMulKernel, cuda_internal::GridFor(n, kThreads), kThreads, stream, gate, up, n,
                                  out);
  return cuda_internal::LaunchStatus("cuda silu_mul");
}

}  // namespace hobbit::kernels
