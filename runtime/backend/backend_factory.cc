#include "runtime/backend/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "runtime/backend/cpu_backend.h"
#ifdef HOBBIT_HAVE_CUDA
#include "runtime/backend/cuda_backend.h"
#endif

namespace hobbit::runtime {

bool CudaBackendAvailable() {
#ifdef HOBBIT_HAVE_CUDA
  return CudaBackend::DeviceCount() > 0;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendChoice& choice) {
  const bool want_cuda = choice.name == "cuda" || (choice.name == "auto" && CudaBackendAvailable());
  if (choice.name != "cpu" && choice.name != "cuda" && choice.name != "auto") {
    return absl::InvalidArgumentError(absl::StrCat("backend '", choice.name, "' is not one of cpu, cuda, auto"));
  }
  if (!want_cuda) {
    CpuBackendOptions options;
    options.threads = choice.cpu_threads;
    return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(options));
  }
#ifdef HOBBIT_HAVE_CUDA
  if (CudaBackend::DeviceCount() <= 0) {
    return absl::UnavailableError("backend 'cuda': no CUDA device is visible (use backend 'cpu' or 'auto')");
  }
  CudaBackendOptions options;
  options.device = choice.cuda_device;
  options.int8_activations = choice.cuda_int8_activations;
  options.prefill_precision = choice.cuda_prefill_precision;
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> cuda, CudaBackend::Create(options));
  return std::unique_ptr<Backend>(std::move(cuda));
#else
  return absl::UnavailableError("backend 'cuda': this build has no CUDA backend (rebuild with nvcc present)");
#endif
}

}  // namespace hobbit::runtime
