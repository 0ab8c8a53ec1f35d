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
#include "tests/support/recording_backend.h"

namespace hobbit::runtime {
namespace {

using test_support::ReadIds;
using test_support::RecordingCpuBackend;

const std::string kFixtures = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/";

struct Generated {
  std::vector<int32_t> greedy;
  std::vector<float> decode_logits;
  Model::RecordingStats stats;
};

// An architecture's f32 fixture, routed on the device unless told otherwise; null (and a test
// failure) if it does not load.
std::unique_ptr<Model> LoadFixture(const std::string& arch, Backend& backend, bool record_steps,
                                   bool device_routing = true) {
  auto file = GgufFile::Open(kFixtures + arch + "/model-f32.gguf");
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  ModelLoadOptions options;
  options.device_routing = device_routing;
  options.record_steps = record_steps;
  auto model = Model::Load(std::move(*file), backend, std::move(options));
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

// Prefill in chunks of 5 (host-routed: never recorded), then 24 greedy decode steps.
Generated Generate(const std::string& arch, Backend& backend, bool record) {
  Generated r;
  std::unique_ptr<Model> model = LoadFixture(arch, backend, record);
  if (model == nullptr) return r;
  SequenceRunner runner(*model, backend);
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
  r.stats = model->recording_stats();
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
  // A step is recorded in two parts (Model::RecordingParts: the fixtures' first layer, then the
  // rest), each replayed with its own launch.
  EXPECT_EQ(2 * recorded.stats.replayed, recording_backend.replays);
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

// A replayed decode step is the whole step in its recordings: the host uploads the step's
// metadata once, replays the step's two parts, and copies the logits back once; no op runs outside
// the recordings (the embedding lookup and the logits included).
TEST(RecordedStepsHostWorkTest, AReplayedStepIsOneUploadTwoReplaysOneDownload) {
  RecordingCpuBackend backend;
  std::unique_ptr<Model> model = LoadFixture("mixtral", backend, /*record_steps=*/true);
  ASSERT_NE(model, nullptr);
  SequenceRunner runner(*model, backend);
  ASSERT_TRUE(runner.Init(64, /*chunk=*/8, /*block_size=*/16).ok());
  StepOutput out;
  const std::vector<int32_t> prompt = {1, 2, 3};
  ASSERT_TRUE(runner.Append(prompt, LogitsWanted::kLast, &out).ok());
  int32_t next = 5;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(runner.Append({&next, 1}, LogitsWanted::kLast, &out).ok());
  ASSERT_EQ(model->recording_stats().recorded, 1);
  const int64_t replays = backend.replays, to_device = backend.copies_to_device;
  const int64_t to_host = backend.copies_to_host, direct = backend.ops_direct, run = backend.ops_run;
  ASSERT_TRUE(runner.Append({&next, 1}, LogitsWanted::kLast, &out).ok());
  EXPECT_EQ(backend.replays - replays, 2);
  EXPECT_EQ(backend.copies_to_device - to_device, 1);
  EXPECT_EQ(backend.copies_to_host - to_host, 1);
  EXPECT_EQ(backend.ops_direct - direct, 0);
  EXPECT_GT(backend.ops_run - run, 0);
  EXPECT_EQ(out.n_rows, 1);
}

// A step whose second part cannot be recorded after its first was: the first part's recording is
// dropped, the step runs directly (once: the same ops and logits as without recording), and the
// shape is not tried again.
TEST(RecordedStepsFallbackTest, ASecondPartThatCannotBeRecordedDropsTheFirst) {
  RecordingCpuBackend direct_backend, backend;
  backend.fail_recording_call = 2;  // the first shape's second part
  std::unique_ptr<Model> model = LoadFixture("mixtral", backend, /*record_steps=*/true);
  ASSERT_NE(model, nullptr);
  SequenceRunner runner(*model, backend);
  ASSERT_TRUE(runner.Init(64, /*chunk=*/8, /*block_size=*/16).ok());
  StepOutput out;
  int32_t next = 5;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(runner.Append({&next, 1}, LogitsWanted::kLast, &out).ok());
  EXPECT_EQ(model->recording_stats().failed, 1);
  EXPECT_EQ(model->recording_stats().recorded, 0);
  EXPECT_EQ(backend.live_recordings(), 0u);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(runner.Append({&next, 1}, LogitsWanted::kLast, &out).ok());
  EXPECT_EQ(model->recording_stats().failed, 1);  // not tried again
  EXPECT_EQ(backend.replays, 0);

  // The same four steps without recording: the same ops ran, with the same logits.
  std::unique_ptr<Model> direct = LoadFixture("mixtral", direct_backend, /*record_steps=*/false);
  ASSERT_NE(direct, nullptr);
  SequenceRunner direct_runner(*direct, direct_backend);
  ASSERT_TRUE(direct_runner.Init(64, /*chunk=*/8, /*block_size=*/16).ok());
  StepOutput direct_out;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(direct_runner.Append({&next, 1}, LogitsWanted::kLast, &direct_out).ok());
  EXPECT_EQ(backend.ops_run, direct_backend.ops_run);
  EXPECT_EQ(out.logits, direct_out.logits);
}

// DecodeRoutesOnDevice says whether device routing took effect (hobbitd's load line reports it).
TEST(RecordedStepsFallbackTest, DecodeRoutesOnDeviceFollowsDeviceRouting) {
  for (bool device_routing : {true, false}) {
    RecordingCpuBackend backend;
    std::unique_ptr<Model> model = LoadFixture("mixtral", backend, /*record_steps=*/false, device_routing);
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(model->DecodeRoutesOnDevice(), device_routing);
  }
}

}  // namespace
}  // namespace hobbit::runtime
