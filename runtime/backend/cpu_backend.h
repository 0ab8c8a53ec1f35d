// CpuBackend: the Backend on host memory and the CPU kernels.
//
// "Device memory" is host memory drawn from a byte budget, so memory-pressure behaviour (KV
// sizing, later the expert cache) is exercised in CI exactly as on a GPU. Weights are used in
// place from the mapped GGUF file (UploadWeight copies nothing). Copies, asynchronous ones
// included, are memcpy and complete before they return.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "runtime/backend/backend.h"

namespace hobbit::kernels {
class ThreadPool;
}

namespace hobbit::runtime {

struct CpuBackendOptions {
  int32_t threads = 0;            // 0: one per hardware thread
  int64_t memory_budget = 0;      // bytes of Allocate()d memory; 0: unlimited
};

// Ops are called from one thread at a time (the engine thread); Allocate and buffer release
// are thread-safe.
class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options = {});
  ~CpuBackend() override;

  std::string_view name() const override { return "cpu"; }
  int64_t allocated_bytes() const { return allocated_->load(); }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes, std::string_view what) override;
  absl::StatusOr<WeightView> UploadWeight(const WeightView& host, std::string_view name) override;
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) override;
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override;
  absl::Status Synchronize() override { return absl::OkStatus(); }
  absl::StatusOr<std::unique_ptr<HostBuffer>> AllocateHost(size_t bytes, std::string_view what) override;
  absl::StatusOr<std::unique_ptr<HostRegistration>> RegisterHost(const void* data, size_t bytes,
                                                                  std::string_view what) override;
  absl::StatusOr<CopyFence> CopyToDeviceAsync(void* dst, const void* src, size_t bytes) override;
  absl::StatusOr<bool> CopyDone(CopyFence fence) override;
  absl::Status WaitCopy(CopyFence fence) override;

  absl::Status GetRows(const WeightView& table, const int32_t* ids_host, int32_t n, float* out) override;
  absl::Status GetRowsDevice(const WeightView& table, const int32_t* ids_device, int32_t n, float* out) override {
    return GetRows(table, ids_device, n, out);  // backend memory is host memory
  }
  absl::Status MatMul(const WeightView& w, const float* x, int32_t n_tokens, float* y) override;
  absl::Status RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                       float* out) override;
  absl::Status Rope(const RopeParams& p) override;
  absl::Status WriteKv(const KvWriteParams& p) override;
  absl::Status Attention(const AttentionParams& p) override;
  absl::Status SiluMul(const float* gate, const float* up, int64_t n, float* out) override;
  absl::Status Add(float* x, const float* y, int64_t n) override;
  absl::Status Fill(float* x, float value, int64_t n) override;
  absl::Status AddRowBias(float* x, const float* bias, int64_t n_rows, int64_t dim) override;
  absl::Status Router(const RouterParams& p) override;
  absl::Status GatherRows(const float* src, const int32_t* rows_host, int32_t n, int64_t dim, float* dst) override;
  absl::Status GatherRowsDevice(const float* src, const int32_t* rows_device, int32_t n, int64_t dim,
                                float* dst) override {
    return GatherRows(src, rows_device, n, dim, dst);
  }
  absl::Status ScatterAddScaled(const float* src, const int32_t* rows_host, const float* scales_host, int32_t n,
                                int64_t dim, float* dst) override;
  absl::Status ScaleRowsBySigmoid(float* x, const float* gate, int64_t n_rows, int64_t dim) override;
  bool RoutedExpertsCanRun(const RoutedExpertsParams& p) override;
  absl::Status RoutedExperts(const RoutedExpertsParams& p) override;

 private:
  CpuBackendOptions options_;
  std::unique_ptr<kernels::ThreadPool> pool_;
  // Shared with live buffers, which give their bytes back when freed (even after the backend).
  std::shared_ptr<std::atomic<int64_t>> allocated_;
  CopyFence copies_ = 0;  // copies issued (each completes at once)
};

}  // namespace hobbit::runtime
