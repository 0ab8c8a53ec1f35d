#include "kernels/cuda/silu_mul.h"

#include "kernels/cuda/internal/launch_status.h"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void SiluMulKernel(const float* gate, const float* up, int64_t n, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  out[i] = g / (1.0f + expf(-g)) * up[i];
}

}  // namespace

absl::Status SiluMulF32(const float* gate, const float* up, int64_t n, float* out, CUstream_st* stream) {
  if (n <= 0) return absl::OkStatus();
  SiluMulKernel<<<cuda_internal::GridFor(n, kThreads), kThreads, 0, stream>>>(gate, up, n, out);
  return cuda_internal::LaunchStatus("cuda silu_mul");
}

}  // namespace hobbit::kernels
