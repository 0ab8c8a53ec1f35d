#include "kernels/cuda/internal/launch_status.h"

#include "absl/strings/str_cat.h"

namespace hobbit::kernels::cuda_internal {

absl::Status CudaStatus(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": CUDA error ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")"));
}

absl::Status LaunchStatus(const char* op) { return CudaStatus(cudaGetLastError(), op); }

}  // namespace hobbit::kernels::cuda_internal
