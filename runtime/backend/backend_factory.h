// CreateBackend: the Backend an operator names ("cpu", "cuda", or "auto": CUDA when this build
// has it and a GPU is present, else the CPU).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/backend/prefill_precision.h"

namespace hobbit::runtime {

struct BackendChoice {
  std::string name = "auto";  // "cpu", "cuda" or "auto"
  int32_t cpu_threads = 0;    // CPU backend: 0 = one per hardware thread
  int32_t cuda_device = 0;
  bool cuda_int8_activations = true;  // CudaBackendOptions::int8_activations
  PrefillPrecision cuda_prefill_precision = PrefillPrecision::kF32;  // CudaBackendOptions::prefill_precision
};

// InvalidArgument for an unknown name; Unavailable for "cuda" in a build without CUDA or on a
// machine without a GPU, saying which.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendChoice& choice);

// Whether this build has the CUDA backend and a GPU is visible.
bool CudaBackendAvailable();

}  // namespace hobbit::runtime
