// A CPU backend that records the way the CUDA backend does (tests only): while recording, ops
// are kept instead of run, calls that need the host (copies, syncs, allocation, ops with
// host-side arguments) fail and spoil the recording, and Replay runs the kept ops again on the
// same arguments, reading memory as it is then, as a replayed CUDA graph does. Used by the model's
// recorded-step tests and the engine's (continuous batching with recorded decode steps).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/base/status_macros.h"
#include "runtime/backend/backend.h"
#include "tests/support/forwarding_backend.h"

namespace hobbit::test_support {

using runtime::AttentionParams;
using runtime::CopyFence;
using runtime::DeviceBuffer;
using runtime::KvWriteParams;
using runtime::RopeParams;
using runtime::RoutedExpertsParams;
using runtime::RouterParams;
using runtime::WeightView;

// The CPU backend, recording. `spoil_with_fill` makes Fill a call that cannot be recorded (as a
// host upload is on CUDA), to exercise the fallback.
class RecordingCpuBackend final : public ForwardingBackend {
 public:
  explicit RecordingCpuBackend(bool spoil_with_fill = false)
      : ForwardingBackend(/*threads=*/1), spoil_with_fill_(spoil_with_fill) {}

  int64_t replays = 0;
  int64_t ops_run = 0;     // ops that ran (directly or replayed)
  int64_t ops_direct = 0;  // of those, ops that ran outside a replay
  int64_t copies_to_device = 0, copies_to_host = 0;
  // > 0: the n-th BeginRecording call (counting from 1) fails, as a capture the driver refuses.
  int64_t fail_recording_call = 0;

  std::string_view name() const override { return "cpu-recording"; }
  // Routed experts and recordings as on CUDA, so the engine turns both on (engine.device_routing,
  // engine.cuda_graphs) with this backend.
  bool device_routing_pays() const override { return true; }
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes, std::string_view what) override {
    HOBBIT_RETURN_IF_ERROR(Host("allocating"));
    return ForwardingBackend::Allocate(bytes, what);
  }
  absl::StatusOr<WeightView> UploadWeight(const WeightView& host, std::string_view name) override {
    HOBBIT_RETURN_IF_ERROR(Host("uploading a weight"));
    return ForwardingBackend::UploadWeight(host, name);
  }
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) override {
    HOBBIT_RETURN_IF_ERROR(Host("a copy to the device"));
    ++copies_to_device;
    return ForwardingBackend::CopyToDevice(dst, src, bytes);
  }
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override {
    HOBBIT_RETURN_IF_ERROR(Host("a copy to the host"));
    ++copies_to_host;
    return ForwardingBackend::CopyToHost(dst, src, bytes);
  }
  absl::Status Synchronize() override {
    HOBBIT_RETURN_IF_ERROR(Host("a synchronization"));
    return ForwardingBackend::Synchronize();
  }
  absl::StatusOr<CopyFence> CopyToDeviceAsync(void* dst, const void* src, size_t bytes) override {
    HOBBIT_RETURN_IF_ERROR(Host("an expert copy"));
    return ForwardingBackend::CopyToDeviceAsync(dst, src, bytes);
  }
  absl::Status WaitCopy(CopyFence fence) override {
    HOBBIT_RETURN_IF_ERROR(Host("waiting for a copy"));
    return ForwardingBackend::WaitCopy(fence);
  }

  // Ops with host-side inputs cannot be recorded; the rest are kept while recording.
  absl::Status GetRows(const WeightView& table, const int32_t* ids_host, int32_t n, float* out) override {
    HOBBIT_RETURN_IF_ERROR(Host("get_rows"));
    return Run([=, this] { return ForwardingBackend::GetRows(table, ids_host, n, out); });
  }
  absl::Status GetRowsDevice(const WeightView& table, const int32_t* ids, int32_t n, float* out) override {
    return Op([=, this] { return ForwardingBackend::GetRowsDevice(table, ids, n, out); });
  }
  absl::Status MatMul(const WeightView& w, const float* x, int32_t n, float* y) override {
    return Op([=, this] { return ForwardingBackend::MatMul(w, x, n, y); });
  }
  absl::Status RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out) override {
    return Op([=, this] { return ForwardingBackend::RmsNorm(x, weight, rows, dim, eps, out); });
  }
  absl::Status Rope(const RopeParams& p) override {
    // kv_write points at the caller's stack: the recording keeps its own copy, as a CUDA graph
    // keeps the kernel's arguments.
    std::optional<KvWriteParams> kv;
    if (p.kv_write != nullptr) kv = *p.kv_write;
    return Op([=, this] {
      RopeParams q = p;
      if (kv) q.kv_write = &*kv;
      return ForwardingBackend::Rope(q);
    });
  }
  absl::Status WriteKv(const KvWriteParams& p) override {
    return Op([=, this] { return ForwardingBackend::WriteKv(p); });
  }
  absl::Status Attention(const AttentionParams& p) override {
    return Op([=, this] { return ForwardingBackend::Attention(p); });
  }
  absl::Status SiluMul(const float* gate, const float* up, int64_t n, float* out) override {
    return Op([=, this] { return ForwardingBackend::SiluMul(gate, up, n, out); });
  }
  absl::Status Add(float* x, const float* y, int64_t n) override {
    return Op([=, this] { return ForwardingBackend::Add(x, y, n); });
  }
  absl::Status Fill(float* x, float value, int64_t n) override {
    if (spoil_with_fill_) HOBBIT_RETURN_IF_ERROR(Host("fill"));
    return Op([=, this] { return ForwardingBackend::Fill(x, value, n); });
  }
  absl::Status AddRowBias(float* x, const float* bias, int64_t rows, int64_t dim) override {
    return Op([=, this] { return ForwardingBackend::AddRowBias(x, bias, rows, dim); });
  }
  absl::Status Router(const RouterParams& p) override {
    // The host-side result cannot be recorded; the device-side one can.
    if (p.ids_device == nullptr) HOBBIT_RETURN_IF_ERROR(Host("a router with host output"));
    return Op([=, this] { return ForwardingBackend::Router(p); });
  }
  absl::Status GatherRows(const float* src, const int32_t* rows_host, int32_t n, int64_t dim, float* dst) override {
    HOBBIT_RETURN_IF_ERROR(Host("gather_rows"));
    return Run([=, this] { return ForwardingBackend::GatherRows(src, rows_host, n, dim, dst); });
  }
  absl::Status GatherRowsDevice(const float* src, const int32_t* rows, int32_t n, int64_t dim, float* dst) override {
    return Op([=, this] { return ForwardingBackend::GatherRowsDevice(src, rows, n, dim, dst); });
  }
  absl::Status ScatterAddScaled(const float* src, const int32_t* rows_host, const float* scales_host, int32_t n,
                                int64_t dim, float* dst) override {
    HOBBIT_RETURN_IF_ERROR(Host("scatter_add"));
    return Run([=, this] { return ForwardingBackend::ScatterAddScaled(src, rows_host, scales_host, n, dim, dst); });
  }
  absl::Status ScaleRowsBySigmoid(float* x, const float* gate, int64_t rows, int64_t dim) override {
    return Op([=, this] { return ForwardingBackend::ScaleRowsBySigmoid(x, gate, rows, dim); });
  }
  absl::Status RoutedExperts(const RoutedExpertsParams& p) override {
    return Op([=, this] { return ForwardingBackend::RoutedExperts(p); });
  }

  bool can_record() const override { return true; }
  absl::Status BeginRecording() override {
    if (recording_) return absl::FailedPreconditionError("already recording");
    if (++begin_calls_ == fail_recording_call) return absl::InternalError("recording refused (test)");
    recording_ = true;
    spoilt_.clear();
    kept_.clear();
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> EndRecording() override {
    if (!recording_) return absl::FailedPreconditionError("not recording");
    recording_ = false;
    if (!spoilt_.empty()) return absl::FailedPreconditionError(spoilt_ + " cannot be recorded");
    recordings_[next_] = std::move(kept_);
    return next_++;
  }
  absl::Status Replay(int64_t id) override {
    auto it = recordings_.find(id);
    if (it == recordings_.end()) return absl::NotFoundError("no such recording");
    ++replays;
    replaying_ = true;
    absl::Status status;
    for (const auto& op : it->second) {
      status = Run(op);
      if (!status.ok()) break;
    }
    replaying_ = false;
    return status;
  }
  void DropRecording(int64_t id) override { recordings_.erase(id); }
  size_t live_recordings() const { return recordings_.size(); }

 private:
  absl::Status Host(const char* what) {
    if (!recording_) return absl::OkStatus();
    if (spoilt_.empty()) spoilt_ = what;
    return absl::FailedPreconditionError(std::string(what) + " while recording");
  }
  absl::Status Run(const std::function<absl::Status()>& op) {
    ++ops_run;
    if (!replaying_) ++ops_direct;
    return op();
  }
  absl::Status Op(std::function<absl::Status()> op) {
    if (recording_) {
      kept_.push_back(std::move(op));
      return absl::OkStatus();
    }
    return Run(op);
  }

  const bool spoil_with_fill_;
  bool recording_ = false;
  bool replaying_ = false;
  int64_t begin_calls_ = 0;
  std::string spoilt_;
  std::vector<std::function<absl::Status()>> kept_;
  absl::flat_hash_map<int64_t, std::vector<std::function<absl::Status()>>> recordings_;
  int64_t next_ = 1;
};

}  // namespace hobbit::test_support
