#include "kernels/cuda/kv_write.h"

#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/paged_context.cuh"
#include "kernels/cuda/internal/pdl.cuh"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

// blockIdx.y is the token; threads cover the K row then the V row. T: the caches' element.
template <class T>
__global__ void KvWriteKernel(KvWriteF32Params p) {
  cuda_internal::AfterPriorGrid();
  const int32_t t = blockIdx.y;
  const int64_t slot = p.slots[t];
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < p.k_row + p.v_row; i += gridDim.x * blockDim.x) {
    if (i < p.k_row) {
      const float x = p.k[static_cast<int64_t>(t) * p.k_row + i];
      cuda_internal::StoreKv(static_cast<T*>(p.k_cache) + slot * p.k_row + i, x);
    } else {
      const int32_t j = i - p.k_row;
      const float x = p.v[static_cast<int64_t>(t) * p.v_row + j];
      cuda_internal::StoreKv(static_cast<T*>(p.v_cache) + slot * p.v_row + j, x);
    }
  }
}

}  // namespace

absl::Status KvWriteF32(const KvWriteF32Params& p, CUstream_st* stream) {
  if (p.n_tokens <= 0 || p.k_row + p.v_row <= 0) return absl::OkStatus();
  const dim3 grid(cuda_internal::GridFor(p.k_row + p.v_row, kThreads), static_cast<unsigned>(p.n_tokens));
  if (p.kv_type == KvCacheType::kF16) {
    cuda_internal::LaunchAfterPrior(KvWriteKernel<__half>, grid, kThreads, stream, p);
  } else {
    cuda_internal::LaunchAfterPrior(KvWriteKernel<float>, grid, kThreads, stream, p);
  }
  return cuda_internal::LaunchStatus("cuda kv_write");
}

}  // namespace hobbit::kernels
