// Converts the CUDA error state after a launch or runtime call into an absl::Status that names
// the op. Internal to kernels/cuda and the CUDA backend (it includes the CUDA runtime header).
#pragma once

#include <cuda_runtime.h>

#include "absl/status/status.h"

namespace hobbit::kernels::cuda_internal {

// OK, or Internal naming `op` and the CUDA error. Reads (and clears) the last launch error.
absl::Status LaunchStatus(const char* op);

// OK for cudaSuccess, else Internal naming `what` and the error.
absl::Status CudaStatus(cudaError_t error, const char* what);

// Blocks of `threads` threads covering n items, as an int grid dimension (n > 0).
inline unsigned GridFor(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace hobbit::kernels::cuda_internal
