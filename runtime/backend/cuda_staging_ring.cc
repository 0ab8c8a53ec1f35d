#include "runtime/backend/cuda_staging_ring.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "kernels/cuda/internal/launch_status.h"

namespace hobbit::runtime {

using kernels::cuda_internal::CudaStatus;

absl::StatusOr<std::unique_ptr<CudaStagingRing>> CudaStagingRing::Create(size_t segment_bytes, CUstream_st* stream) {
  std::unique_ptr<CudaStagingRing> ring(new CudaStagingRing(stream));
  segment_bytes = (std::max<size_t>(segment_bytes, 256) + 255) / 256 * 256;
  for (auto& e : ring->users_done_) {
    HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "staging ring event"));
  }
  HOBBIT_RETURN_IF_ERROR(ring->Allocate(segment_bytes));
  return ring;
}

CudaStagingRing::~CudaStagingRing() {
  cudaStreamSynchronize(stream_);
  Release();
  for (auto& e : users_done_) {
    if (e) cudaEventDestroy(e);
  }
}

absl::Status CudaStagingRing::Allocate(size_t segment_bytes) {
  segment_ = segment_bytes;
  current_ = 0;
  used_ = 0;
  cudaError_t err = cudaMallocHost(reinterpret_cast<void**>(&host_), kSegments * segment_bytes);
  if (err == cudaSuccess) err = cudaMalloc(reinterpret_cast<void**>(&device_), kSegments * segment_bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    Release();
    return absl::ResourceExhaustedError(absl::StrCat("cuda staging ring: cannot allocate 3 x ", segment_bytes,
                                                     " bytes of pinned and device memory: ", cudaGetErrorString(err)));
  }
  return absl::OkStatus();
}

void CudaStagingRing::Release() {
  if (host_) cudaFreeHost(host_);
  if (device_) cudaFree(device_);
  host_ = nullptr;
  device_ = nullptr;
}

absl::StatusOr<size_t> CudaStagingRing::Reserve(size_t bytes) {
  const size_t need = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  if (need > segment_) {
    // Nothing queued may still read the old ring once the stream is idle.
    HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream_), "staging ring resize"));
    Release();
    HOBBIT_RETURN_IF_ERROR(Allocate(std::max(need, 2 * segment_)));
  }
  if (used_ + need > segment_) {
    const int previous = (current_ + kSegments - 1) % kSegments;
    HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaEventRecord(users_done_[previous], stream_), "staging ring record"));
    current_ = (current_ + 1) % kSegments;
    HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaEventSynchronize(users_done_[current_]), "staging ring wait"));
    used_ = 0;
  }
  const size_t offset = static_cast<size_t>(current_) * segment_ + used_;
  used_ += need;
  return offset;
}

absl::StatusOr<void*> CudaStagingRing::Upload(const void* host, size_t bytes) {
  HOBBIT_ASSIGN_OR_RETURN(const size_t offset, Reserve(bytes));
  if (bytes == 0) return device_ + offset;
  std::memcpy(host_ + offset, host, bytes);
  HOBBIT_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpyAsync(device_ + offset, host_ + offset, bytes, cudaMemcpyHostToDevice, stream_), "staging upload"));
  return device_ + offset;
}

absl::Status CudaStagingRing::CopyToDevice(void* dst, const void* host, size_t bytes) {
  auto* d = static_cast<uint8_t*>(dst);
  const auto* h = static_cast<const uint8_t*>(host);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(bytes - done, segment_);
    HOBBIT_ASSIGN_OR_RETURN(const size_t offset, Reserve(n));
    std::memcpy(host_ + offset, h + done, n);
    HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaMemcpyAsync(d + done, host_ + offset, n, cudaMemcpyHostToDevice, stream_),
                                      "copy to device"));
    done += n;
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
