// ForwardingBackend: a Backend that hands every call to a CpuBackend. Tests derive from it and
// override only the calls they watch or change (counting copies, recording ops).
#pragma once

#include <memory>
#include <string_view>

#include "runtime/backend/cpu_backend.h"

namespace hobbit::test_support {

class ForwardingBackend : public runtime::Backend {
 public:
  using Backend = runtime::Backend;
  using CopyFence = runtime::CopyFence;
  using DeviceBuffer = runtime::DeviceBuffer;
  using HostBuffer = runtime::HostBuffer;
  using HostRegistration = runtime::HostRegistration;
  using WeightView = runtime::WeightView;

  explicit ForwardingBackend(int32_t threads = 2) : cpu_(runtime::CpuBackendOptions{.threads = threads}) {}

  std::string_view name() const override { return "forwarding-cpu"; }
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes, std::string_view what) override {
    return cpu_.Allocate(bytes, what);
  }
  absl::StatusOr<WeightView> UploadWeight(const WeightView& host, std::string_view name) override {
    return cpu_.UploadWeight(host, name);
  }
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) override {
    return cpu_.CopyToDevice(dst, src, bytes);
  }
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override { return cpu_.CopyToHost(dst, src, bytes); }
  absl::Status Synchronize() override { return cpu_.Synchronize(); }
  absl::StatusOr<std::unique_ptr<HostBuffer>> AllocateHost(size_t bytes, std::string_view what) override {
    return cpu_.AllocateHost(bytes, what);
  }
  absl::StatusOr<std::unique_ptr<HostRegistration>> RegisterHost(const void* data, size_t bytes,
                                                                  std::string_view what) override {
    return cpu_.RegisterHost(data, bytes, what);
  }
  absl::StatusOr<CopyFence> CopyToDeviceAsync(void* dst, const void* src, size_t bytes) override {
    return cpu_.CopyToDeviceAsync(dst, src, bytes);
  }
  absl::StatusOr<bool> CopyDone(CopyFence fence) override { return cpu_.CopyDone(fence); }
  absl::Status WaitCopy(CopyFence fence) override { return cpu_.WaitCopy(fence); }

  absl::Status GetRows(const WeightView& t, const int32_t* ids, int32_t n, float* out) override {
    return cpu_.GetRows(t, ids, n, out);
  }
  absl::Status GetRowsDevice(const WeightView& t, const int32_t* ids, int32_t n, float* out) override {
    return cpu_.GetRowsDevice(t, ids, n, out);
  }
  absl::Status MatMul(const WeightView& w, const float* x, int32_t n, float* y) override {
    return cpu_.MatMul(w, x, n, y);
  }
  absl::Status RmsNorm(const float* x, const float* w, int64_t rows, int64_t dim, float eps, float* out) override {
    return cpu_.RmsNorm(x, w, rows, dim, eps, out);
  }
  absl::Status Rope(const runtime::RopeParams& p) override { return cpu_.Rope(p); }
  absl::Status WriteKv(const runtime::KvWriteParams& p) override { return cpu_.WriteKv(p); }
  absl::Status Attention(const runtime::AttentionParams& p) override { return cpu_.Attention(p); }
  absl::Status SiluMul(const float* g, const float* u, int64_t n, float* out) override {
    return cpu_.SiluMul(g, u, n, out);
  }
  absl::Status Add(float* x, const float* y, int64_t n) override { return cpu_.Add(x, y, n); }
  absl::Status Fill(float* x, float v, int64_t n) override { return cpu_.Fill(x, v, n); }
  absl::Status AddRowBias(float* x, const float* b, int64_t rows, int64_t dim) override {
    return cpu_.AddRowBias(x, b, rows, dim);
  }
  absl::Status Router(const runtime::RouterParams& p) override { return cpu_.Router(p); }
  absl::Status GatherRows(const float* s, const int32_t* r, int32_t n, int64_t d, float* out) override {
    return cpu_.GatherRows(s, r, n, d, out);
  }
  absl::Status GatherRowsDevice(const float* s, const int32_t* r, int32_t n, int64_t d, float* out) override {
    return cpu_.GatherRowsDevice(s, r, n, d, out);
  }
  absl::Status ScatterAddScaled(const float* s, const int32_t* r, const float* w, int32_t n, int64_t d,
                                float* out) override {
    return cpu_.ScatterAddScaled(s, r, w, n, d, out);
  }
  absl::Status ScaleRowsBySigmoid(float* x, const float* g, int64_t rows, int64_t dim) override {
    return cpu_.ScaleRowsBySigmoid(x, g, rows, dim);
  }
  bool RoutedExpertsCanRun(const runtime::RoutedExpertsParams& p) override { return cpu_.RoutedExpertsCanRun(p); }
  absl::Status RoutedExperts(const runtime::RoutedExpertsParams& p) override { return cpu_.RoutedExperts(p); }

 protected:
  runtime::CpuBackend cpu_;
};

}  // namespace hobbit::test_support
