// Expert offloading on the CUDA backend:
// - asynchronous copies run on their own stream yet never overtake the ops queued before them
//   (an evicted slot is not overwritten while a queued op reads it), and fences complete in order;
// - the expert store pins its host copies (pinned low copies, page-locked model file);
// - on the tiny real Mixtral fixture, ondemand-lru with two experts per layer and hobbit with
//   T1 = T2 = 1 give the resident model's logits, and a quarter budget with int4 low copies runs
//   with counters that add up — the same checks the CPU suite (tests/runtime/experts) makes.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/backend/cuda_backend.h"
#include "runtime/experts/copy_link.h"
#include "runtime/experts/offloaded_expert_ffn.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"
#include "runtime/model/sequence_runner.h"
#include "tests/support/fixture_files.h"

namespace hobbit::runtime {
namespace {

const std::string kMixtral = "tests/fixtures/hf_tiny/mixtral/";

class CudaOffloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
    auto backend = CudaBackend::Create({});
    ASSERT_TRUE(backend.ok()) << backend.status();
    gpu_ = std::move(*backend);
  }
  std::unique_ptr<CudaBackend> gpu_;
};

TEST_F(CudaOffloadTest, AsyncCopyWaitsForOpsQueuedBeforeIt) {
  const int64_t n = int64_t{1} << 24;  // 64 MB of floats: each Add takes tens of microseconds
  auto a = gpu_->Allocate(n * sizeof(float), "a");
  auto x = gpu_->Allocate(n * sizeof(float), "x");
  ASSERT_TRUE(a.ok() && x.ok());
  ASSERT_TRUE(gpu_->Fill((*a)->as<float>(), 1.0f, n).ok());
  ASSERT_TRUE(gpu_->Fill((*x)->as<float>(), 0.0f, n).ok());
  constexpr int kAdds = 50;
  for (int i = 0; i < kAdds; ++i) ASSERT_TRUE(gpu_->Add((*x)->as<float>(), (*a)->as<float>(), n).ok());
  auto twos = gpu_->AllocateHost(n * sizeof(float), "twos");
  ASSERT_TRUE(twos.ok());
  std::fill((*twos)->as<float>(), (*twos)->as<float>() + n, 2.0f);
  // Overwrites `a` while (on the GPU) the adds above may still be reading it.
  auto fence = gpu_->CopyToDeviceAsync((*a)->data(), (*twos)->data(), n * sizeof(float));
  ASSERT_TRUE(fence.ok()) << fence.status();
  ASSERT_TRUE(gpu_->WaitCopy(*fence).ok());
  ASSERT_TRUE(gpu_->Add((*x)->as<float>(), (*a)->as<float>(), n).ok());
  std::vector<float> out(n);
  ASSERT_TRUE(gpu_->CopyToHost(out.data(), (*x)->data(), n * sizeof(float)).ok());
  const float want = kAdds * 1.0f + 2.0f;
  int64_t wrong = 0;
  for (float v : out) wrong += v != want;
  EXPECT_EQ(wrong, 0) << "elements where the copy overtook the queued adds (want " << want << ")";
}

TEST_F(CudaOffloadTest, FencesCompleteInOrder) {
  auto host = gpu_->AllocateHost(1 << 20, "host");
  auto dev = gpu_->Allocate(1 << 20, "dev");
  ASSERT_TRUE(host.ok() && dev.ok());
  std::vector<CopyFence> fences;
  for (int i = 0; i < 8; ++i) {
    auto f = gpu_->CopyToDeviceAsync((*dev)->data(), (*host)->data(), 1 << 20);
    ASSERT_TRUE(f.ok());
    if (!fences.empty()) {
      EXPECT_GT(*f, fences.back());
    }
    fences.push_back(*f);
  }
  ASSERT_TRUE(gpu_->WaitCopy(fences[5]).ok());
  for (int i = 0; i <= 5; ++i) EXPECT_TRUE(*gpu_->CopyDone(fences[i]));
  ASSERT_TRUE(gpu_->WaitCopy(fences.back()).ok());
  EXPECT_TRUE(*gpu_->CopyDone(fences.back()));
  EXPECT_FALSE(gpu_->CopyDone(fences.back() + 1).ok());  // never issued
  auto bandwidth = MeasureCopyBandwidth(*gpu_, size_t{64} << 20, 3);
  ASSERT_TRUE(bandwidth.ok()) << bandwidth.status();
  EXPECT_GT(*bandwidth, 0.0);
  std::printf("pinned host->device copy: %.1f GB/s\n", *bandwidth / 1e9);
}

struct Loaded {
  std::shared_ptr<const GgufFile> file;
  std::unique_ptr<Model> model;
  OffloadedExpertFfn* loader = nullptr;
};

Loaded Load(Backend& backend, const std::string& path, std::optional<ExpertOptions> experts) {
  Loaded l;
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return l;
  l.file = std::move(*file);
  ModelLoadOptions mo;
  if (experts) {
    auto ffn = std::make_unique<OffloadedExpertFfn>(*experts, l.file);
    l.loader = ffn.get();
    mo.expert_ffn = std::move(ffn);
  }
  auto model = Model::Load(l.file, backend, std::move(mo));
  EXPECT_TRUE(model.ok()) << model.status();
  if (model.ok()) l.model = std::move(*model);
  return l;
}

// Prefill in chunks of 5, then 8 greedy steps; every logit produced.
std::vector<float> RunSequence(Loaded& l, Backend& backend) {
  std::ifstream in(kMixtral + "prompt.txt");
  std::vector<int32_t> prompt;
  for (int32_t v; in >> v;) prompt.push_back(v);
  SequenceRunner runner(*l.model, backend);
  EXPECT_TRUE(runner.Init(64, /*chunk=*/5).ok());
  StepOutput out;
  std::vector<float> all;
  EXPECT_TRUE(runner.Append(prompt, LogitsWanted::kAll, &out).ok());
  all.insert(all.end(), out.logits.begin(), out.logits.end());
  for (int i = 0; i < 8; ++i) {
    const float* last = out.logits.data() + static_cast<size_t>(out.n_rows - 1) * out.n_vocab;
    const int32_t next = static_cast<int32_t>(std::max_element(last, last + out.n_vocab) - last);
    EXPECT_TRUE(runner.Append({&next, 1}, LogitsWanted::kLast, &out).ok());
    all.insert(all.end(), out.logits.begin(), out.logits.end());
  }
  return all;
}

int64_t HighExpertBytes(const GgufFile& file) {
  const GgufTensorInfo* gate = file.FindTensor("blk.0.ffn_gate_exps.weight");
  const GgufTensorInfo* down = file.FindTensor("blk.0.ffn_down_exps.weight");
  auto align = [](int64_t n) { return (n + 63) / 64 * 64; };
  const int64_t n_expert = gate->ne[2];
  return 2 * align(static_cast<int64_t>(gate->nbytes) / n_expert) + static_cast<int64_t>(down->nbytes) / n_expert;
}

void ExpectCountersAddUp(const ExpertStats& s) {
  EXPECT_EQ(s.hits_high + s.hits_low + s.misses_high + s.misses_low + s.misses_skip, s.lookups);
  EXPECT_EQ(s.prefetch_used + s.prefetch_wasted, s.prefetch_issued);
  EXPECT_LE(s.prefetch_late, s.prefetch_used);
}

// Same kernels on the same bytes in the same order: the offloaded logits equal resident's.
void ExpectSameLogits(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  size_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
  EXPECT_EQ(differ, 0u) << "of " << got.size() << " logits";
}

TEST_F(CudaOffloadTest, OndemandLruAndQualityHobbitEqualResident) {
  for (const char* name : {"model-f32.gguf", "model-q8_0.gguf"}) {
    SCOPED_TRACE(name);
    Loaded resident = Load(*gpu_, kMixtral + name, std::nullopt);
    ASSERT_NE(resident.model, nullptr);
    const std::vector<float> want = RunSequence(resident, *gpu_);
    const int64_t slot = HighExpertBytes(*resident.file);
    const int32_t n_layer = resident.model->config().n_layer;

    ExpertOptions lru;
    lru.mode = ExpertMode::kOndemandLru;
    lru.gpu_cache_bytes = 2 * n_layer * slot;
    Loaded l = Load(*gpu_, kMixtral + name, lru);
    ASSERT_NE(l.model, nullptr);
    EXPECT_TRUE(l.loader->store().high_pinned());
    ExpectSameLogits(RunSequence(l, *gpu_), want);
    ExpectCountersAddUp(l.loader->total_stats());
    EXPECT_GT(l.loader->total_stats().misses_high, 0u);

    ExpertOptions hob;
    hob.mode = ExpertMode::kHobbit;
    hob.balanced = PrecisionThresholds{1.0f, 1.0f};
    hob.gpu_cache_bytes = 7 * slot;
    hob.prefetch_depth = 1;
    hob.prefetch_throttle = false;  // every predicted miss: the prefetch path is exercised for sure
    Loaded h = Load(*gpu_, kMixtral + name, hob);
    ASSERT_NE(h.model, nullptr);
    EXPECT_TRUE(h.loader->store().low_pinned());
    ExpectSameLogits(RunSequence(h, *gpu_), want);
    ExpectCountersAddUp(h.loader->total_stats());
    EXPECT_GT(h.loader->total_stats().prefetch_issued, 0u);
  }
}

TEST_F(CudaOffloadTest, QuarterBudgetHobbitWithInt4RunsAndCounts) {
  Loaded resident = Load(*gpu_, kMixtral + "model-f32.gguf", std::nullopt);
  ASSERT_NE(resident.model, nullptr);
  const std::vector<float> want = RunSequence(resident, *gpu_);
  const auto& config = resident.model->config();
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.gpu_cache_bytes = config.n_layer * config.n_expert * HighExpertBytes(*resident.file) / 4;
  o.low_format = LowFormat::kInt4;
  Loaded h = Load(*gpu_, kMixtral + "model-f32.gguf", o);
  ASSERT_NE(h.model, nullptr);
  const std::vector<float> got = RunSequence(h, *gpu_);
  ASSERT_EQ(got.size(), want.size());
  for (float v : got) ASSERT_TRUE(std::isfinite(v));
  const ExpertStats& s = h.loader->total_stats();
  ExpectCountersAddUp(s);
  EXPECT_GT(s.misses_high + s.misses_low + s.misses_skip, 0u);
  EXPECT_GT(s.bytes_demand + s.bytes_prefetch, 0u);
}

// The CPU path on CUDA: with a slow (paced) link, misses are computed on the host from their host
// copies (x downloaded, outputs uploaded and added with the router weights); with every expert in
// high precision (T1 = T2 = 1) the logits equal resident's up to summation order.
TEST_F(CudaOffloadTest, CpuPathOnASlowLinkMatchesResident) {
  Loaded resident = Load(*gpu_, kMixtral + "model-f32.gguf", std::nullopt);
  ASSERT_NE(resident.model, nullptr);
  const std::vector<float> want = RunSequence(resident, *gpu_);
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.balanced = PrecisionThresholds{1.0f, 1.0f};
  o.gpu_cache_bytes = 7 * HighExpertBytes(*resident.file);
  o.prefetch_depth = 1;
  o.copy_bandwidth = 20e6;
  o.cpu_path = true;
  Loaded h = Load(*gpu_, kMixtral + "model-f32.gguf", o);
  ASSERT_NE(h.model, nullptr);
  const std::vector<float> got = RunSequence(h, *gpu_);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LT(test_support::RelativeError(got, want), 1e-5);
  const ExpertStats& s = h.loader->total_stats();
  ExpectCountersAddUp(s);
  EXPECT_GT(s.misses_host, 0u);
}

}  // namespace
}  // namespace hobbit::runtime
