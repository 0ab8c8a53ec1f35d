// Model's recorded steps (ModelLoadOptions::record_steps) on a CPU backend that records the way
// the CUDA backend does: while recording, ops are kept instead of run, calls that need the host
// fail and spoil the recording, and Replay runs the kept ops again on the same arguments. The
// CUDA backend itself is checked on the GPU (cuda_model_golden_test); this checks the model's
// side: which steps are recorded, that replays give the direct run's logits bit for bit, and that
// a failed recording falls back to running the step.
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"
#include "runtime/model/sequence_runner.h"
#include "tests/support/fixture_files.h"
#include "tests/support/forwarding_backend.h"

namespace hobbit::runtime {
namespace {

using test_support::ReadIds;

const std::string kFixtures = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/";

// The CPU backend, recording. `spoil_with_fill` makes Fill a call that cannot be recorded (as a
// host upload is on CUDA), to exercise the fallback.
class RecordingCpuBackend final : public test_support::ForwardingBackend {
 public:
  explicit RecordingCpuBackend(bool spoil_with_fill = false)
      : ForwardingBackend(/*threads=*/1), spoil_with_fill_(spoil_with_fill) {}

  int64_t replays = 0;
  int64_t ops_run = 0;  // ops that ran (directly or replayed)

  std::string_view name() const override { return "cpu-recording"; }
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
    return ForwardingBackend::CopyToDevice(dst, src, bytes);
  }
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override {
    HOBBIT_RETURN_IF_ERROR(Host("a copy to the host"));
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
    for (const auto& op : it->second) HOBBIT_RETURN_IF_ERROR(Run(op));
    return absl::OkStatus();
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
  std::string spoilt_;
  std::vector<std::function<absl::Status()>> kept_;
  absl::flat_hash_map<int64_t, std::vector<std::function<absl::Status()>>> recordings_;
  int64_t next_ = 1;
};

struct Generated {
  std::vector<int32_t> greedy;
  std::vector<float> decode_logits;
  Model::RecordingStats stats;
};

// Prefill in chunks of 5 (host-routed: never recorded), then 24 greedy decode steps.
Generated Generate(const std::string& arch, Backend& backend, bool record) {
  Generated r;
  auto file = GgufFile::Open(kFixtures + arch + "/model-f32.gguf");
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return r;
  ModelLoadOptions options;
  options.device_routing = true;
  options.record_steps = record;
  auto model = Model::Load(std::move(*file), backend, std::move(options));
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return r;
  SequenceRunner runner(**model, backend);
  EXPECT_TRUE(runner.Init(256, /*chunk=*/5, /*block_size=*/4).ok());
  StepOutput out;
  EXPECT_TRUE(runner.Append(ReadIds(kFixtures + arch + "/prompt.txt"), LogitsWanted::kLast, &out).ok());
  for (int i = 0; i < 24; ++i) {
    int32_t next = 0;
    for (int32_t v = 1; v < out.n_vocab; ++v) {
      if (out.logits[v] > out.logits[next]) next = v;
    }
    r.greedy.push_back(next);
    EXPECT_TRUE(runner.Append({&next, 1}, LogitsWanted::kLast, &out).ok()) << arch << " step " << i;
    r.decode_logits.insert(r.decode_logits.end(), out.logits.begin(), out.logits.end());
  }
  r.stats = (*model)->recording_stats();
  return r;
}

class RecordedStepsTest : public ::testing::TestWithParam<std::string> {};

// A shape's first decode step runs directly, its second is recorded and replayed, and every
// later one replays; the block tables' stride is a power of two, so the shape changes only when
// the context doubles. The logits are the direct run's, bit for bit.
TEST_P(RecordedStepsTest, ReplaysGiveTheDirectRunsLogits) {
  RecordingCpuBackend direct_backend, recording_backend;
  const Generated direct = Generate(GetParam(), direct_backend, /*record=*/false);
  const Generated recorded = Generate(GetParam(), recording_backend, /*record=*/true);
  std::printf("%s: %lld shapes recorded, %lld of 24 decode steps replayed\n", GetParam().c_str(),
              static_cast<long long>(recorded.stats.recorded), static_cast<long long>(recorded.stats.replayed));
  EXPECT_EQ(direct.stats.recorded + direct.stats.replayed + direct.stats.failed, 0);
  EXPECT_EQ(direct_backend.replays, 0);
  EXPECT_EQ(recorded.stats.failed, 0);
  EXPECT_GE(recorded.stats.recorded, 1);
  EXPECT_LE(recorded.stats.recorded, 4);  // one per context doubling in 24 steps
  // Every step but each shape's first runs from its recording.
  EXPECT_GE(recorded.stats.replayed, 24 - 2 * recorded.stats.recorded);
  EXPECT_EQ(recorded.stats.replayed, recording_backend.replays);
  EXPECT_EQ(recorded.greedy, direct.greedy);
  ASSERT_EQ(recorded.decode_logits.size(), direct.decode_logits.size());
  EXPECT_EQ(std::memcmp(recorded.decode_logits.data(), direct.decode_logits.data(),
                        direct.decode_logits.size() * sizeof(float)),
            0);
  // The same ops ran, whichever way.
  EXPECT_EQ(recording_backend.ops_run, direct_backend.ops_run);
  // The model dropped its recordings when it went.
  EXPECT_EQ(recording_backend.live_recordings(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Architectures, RecordedStepsTest,
                         ::testing::Values("mixtral", "qwen2moe", "qwen3moe", "olmoe"));

// A recording spoilt by a call that cannot be recorded runs the step directly (nothing was run
// while recording) and that shape is not recorded again: same logits, failures counted.
TEST(RecordedStepsFallbackTest, ASpoiltRecordingRunsTheStepDirectly) {
  RecordingCpuBackend direct_backend, spoiling_backend(/*spoil_with_fill=*/true);
  // qwen2moe has a shared expert: its MoE layers fill a buffer (Fill) on the routed path.
  const Generated direct = Generate("qwen2moe", direct_backend, /*record=*/false);
  const Generated spoilt = Generate("qwen2moe", spoiling_backend, /*record=*/true);
  EXPECT_GE(spoilt.stats.failed, 1);
  EXPECT_EQ(spoilt.stats.recorded, 0);
  EXPECT_EQ(spoilt.stats.replayed, 0);
  EXPECT_EQ(spoilt.greedy, direct.greedy);
  ASSERT_EQ(spoilt.decode_logits.size(), direct.decode_logits.size());
  EXPECT_EQ(std::memcmp(spoilt.decode_logits.data(), direct.decode_logits.data(),
                        direct.decode_logits.size() * sizeof(float)),
            0);
}

}  // namespace
}  // namespace hobbit::runtime
