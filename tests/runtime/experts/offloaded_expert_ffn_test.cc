// OffloadedExpertFfn on the tiny real Mixtral fixture (8 experts, top-2, 2 layers):
// - ondemand-lru with two experts per layer and hobbit with T1 = T2 = 1 give logits bit-identical
//   to resident (F32 and Q8_0 files);
// - hand-computed routing cases give the decisions and counters the rule says;
// - counters add up: hits + misses = lookups, bytes = what went through the backend's copies,
//   prefetches used + wasted = issued;
// - copies paced to a bandwidth make the layer wait for them.
#include "runtime/experts/offloaded_expert_ffn.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "kernels/quant/dequantize.h"
#include "gtest/gtest.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"
#include "runtime/model/sequence_runner.h"
#include "tests/runtime/experts/loader_harness.h"
#include "tests/support/fixture_files.h"
#include "tools/hobbit_tool/synth_model.h"

namespace hobbit::runtime {
namespace {

using loader_test::CountingBackend;
using loader_test::ExpectCountersAddUp;
using loader_test::HighSlotBytes;
using loader_test::kMixtral;
using loader_test::Load;
using loader_test::Loaded;
using loader_test::Prompt;
using loader_test::RunSequence;

class OffloadedEquivalenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OffloadedEquivalenceTest, OndemandLruWithTwoExpertsPerLayerEqualsResident) {
  Loaded resident = Load(kMixtral + GetParam(), std::nullopt);
  ASSERT_NE(resident.model, nullptr);
  ExpertOptions o;
  o.mode = ExpertMode::kOndemandLru;
  o.gpu_cache_bytes = 2 * resident.model->config().n_layer * HighSlotBytes(resident);
  Loaded lru = Load(kMixtral + GetParam(), o);
  ASSERT_NE(lru.model, nullptr);
  EXPECT_EQ(lru.loader->cache().num_slots(Precision::kHigh), 2 * lru.model->config().n_layer);
  EXPECT_EQ(lru.loader->cache().num_slots(Precision::kLow), 0);
  // The fixture is on disk: the high copies were copied into (here: plain) pinned memory.
  EXPECT_TRUE(lru.loader->store().high_pinned());
  const std::vector<float> want = RunSequence(resident);
  lru.backend->copied = 0;
  const std::vector<float> got = RunSequence(lru);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  const ExpertStats& s = lru.loader->total_stats();
  ExpectCountersAddUp(s, lru.backend->copied);
  EXPECT_GT(s.misses_high, 0u);
  EXPECT_GT(s.hits_high, 0u);
  EXPECT_EQ(s.misses_low + s.misses_skip + s.hits_low + s.prefetch_issued, 0u);
  EXPECT_EQ(s.lookups, s.tokens * 2 * 2);  // top-2 in each of 2 layers
  EXPECT_EQ(s.bytes_demand, s.misses_high == 0 ? 0 : s.bytes_demand);
}

TEST_P(OffloadedEquivalenceTest, HobbitWithQualityThresholdsEqualsResident) {
  Loaded resident = Load(kMixtral + GetParam(), std::nullopt);
  ASSERT_NE(resident.model, nullptr);
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.balanced = PrecisionThresholds{1.0f, 1.0f};
  o.gpu_cache_bytes = 7 * HighSlotBytes(resident);  // 5 high slots (of 16 experts) + a low pool
  o.prefetch_depth = 1;
  Loaded hob = Load(kMixtral + GetParam(), o);
  ASSERT_NE(hob.model, nullptr);
  const std::vector<float> want = RunSequence(resident);
  hob.backend->copied = 0;
  const std::vector<float> got = RunSequence(hob);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  const ExpertStats& s = hob.loader->total_stats();
  ExpectCountersAddUp(s, hob.backend->copied);
  EXPECT_EQ(s.misses_low + s.misses_skip + s.hits_low, 0u);
  EXPECT_GT(s.prefetch_issued, 0u);
}

INSTANTIATE_TEST_SUITE_P(Files, OffloadedEquivalenceTest, ::testing::Values("model-f32.gguf", "model-q8_0.gguf"));

TEST(OffloadedExpertFfnTest, HobbitAndStaticLowCountersAddUp) {
  for (ExpertMode mode : {ExpertMode::kHobbit, ExpertMode::kStaticLow}) {
    Loaded resident = Load(kMixtral + "model-f32.gguf", std::nullopt);
    ExpertOptions o;
    o.mode = mode;
    o.gpu_cache_bytes = 4 * HighSlotBytes(resident);
    Loaded l = Load(kMixtral + "model-f32.gguf", o);
    ASSERT_NE(l.model, nullptr);
    l.backend->copied = 0;
    const std::vector<float> want = RunSequence(resident);
    const std::vector<float> got = RunSequence(l);
    const ExpertStats& s = l.loader->total_stats();
    ExpectCountersAddUp(s, l.backend->copied);
    EXPECT_EQ(s.lookups, s.tokens * 2 * 2);
    // Low copies and skips move the logits (the low-copy math itself is checked in
    // HandComputedDecisions; on this random tiny model they also flip near-tied routes).
    ASSERT_EQ(got.size(), want.size());
    EXPECT_NE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << ExpertModeName(mode);
    for (float v : got) ASSERT_TRUE(std::isfinite(v));
    if (mode == ExpertMode::kStaticLow) {
      EXPECT_EQ(s.hits_high + s.misses_high + s.misses_skip, 0u);
    } else {
      EXPECT_GT(s.misses_low, 0u);
    }
  }
}

std::vector<double> Dequantized(const WeightView& w) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  std::vector<double> out;
  for (int64_t r = 0; r < w.rows; ++r) {
    EXPECT_TRUE(kernels::DequantizeRow(static_cast<kernels::GgmlType>(w.type),
                                       static_cast<const uint8_t*>(w.data) + r * w.row_bytes, row.data(), w.cols)
                    .ok());
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

std::vector<double> MatVec(const WeightView& w, const std::vector<double>& x) {
  const std::vector<double> m = Dequantized(w);
  std::vector<double> y(static_cast<size_t>(w.rows), 0.0);
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t c = 0; c < w.cols; ++c) y[r] += m[r * w.cols + c] * x[c];
  }
  return y;
}

// down(silu(gate x) * up x) in double precision.
std::vector<double> ExpertForward(const ExpertCopy& e, const float* x) {
  const std::vector<double> xv(x, x + e.gate.cols);
  std::vector<double> g = MatVec(e.gate, xv);
  const std::vector<double> u = MatVec(e.up, xv);
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
  return MatVec(e.down, g);
}

// Direct calls with hand-made routing: T1 = 0.6, T2 = 0.9, everything fits in the cache.
// A `quality` request after a `speed` one: the speed sequence leaves low copies resident, yet the
// quality sequence never runs one (it loads the high copy) and matches resident exactly.
TEST(OffloadedExpertFfnTest, QualityRequestsAreNeverServedLowCopies) {
  Loaded resident = Load(kMixtral + "model-f32.gguf", std::nullopt);
  ASSERT_NE(resident.model, nullptr);
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.gpu_cache_bytes = 8 * HighSlotBytes(resident);
  o.prefetch_depth = 1;
  Loaded l = Load(kMixtral + "model-f32.gguf", o);
  ASSERT_NE(l.model, nullptr);
  l.loader->BeginSequence(0, ExpertPolicy::kSpeed);
  RunSequence(l);
  const ExpertStats& speed = l.loader->total_stats();
  ASSERT_GT(speed.misses_low + speed.hits_low, 0u);
  ASSERT_GT(l.loader->cache().num_resident(Precision::kLow), 0);
  l.loader->ResetStats();
  l.loader->BeginSequence(0, ExpertPolicy::kQuality);
  const std::vector<float> got = RunSequence(l);
  const std::vector<float> want = RunSequence(resident);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  const ExpertStats& quality = l.loader->total_stats();
  EXPECT_EQ(quality.hits_low + quality.misses_low + quality.misses_skip, 0u);
  EXPECT_GT(quality.hits_high + quality.misses_high, 0u);
}

TEST(OffloadedExpertFfnTest, HandComputedDecisions) {
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.prefetch_depth = 0;
  o.high_pool_fraction = 0.5;
  Loaded probe = Load(kMixtral + "model-f32.gguf", std::nullopt);
  o.gpu_cache_bytes = 32 * HighSlotBytes(probe);
  Loaded l = Load(kMixtral + "model-f32.gguf", o);
  ASSERT_NE(l.model, nullptr);
  const int32_t n_embd = l.model->config().n_embd;
  std::vector<float> x(3 * n_embd), out(3 * n_embd, 0.0f);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  const int64_t seqs[3] = {1, 1, 2};
  const int64_t high = l.loader->store().high(0, 0).bytes(), low = l.loader->store().low(0, 0).bytes();
  // t0: e0 (s 0) high, e1 (s 0.7) low. t1: e2 high, e3 (s 0.95) skip. t2: e3 (s 0) high, e1 (s 0.8) low.
  // Batch: e3 is high (t2 asks high), e1 low. Misses: high e0, e2, e3 (x2 pairs) = 4; low e1 x2 = 2.
  {
    const int32_t ids[6] = {0, 1, 2, 3, 3, 1};
    const float w[6] = {0.7f, 0.3f, 0.95f, 0.05f, 0.8f, 0.2f};
    l.backend->copied = 0;
    ASSERT_TRUE(l.loader->Run(0, x.data(), ExpertRouting{3, 2, ids, w, seqs}, out.data()).ok());
    const ExpertStats& s = l.loader->total_stats();
    EXPECT_EQ(s.lookups, 6u);
    EXPECT_EQ(s.misses_high, 4u);
    EXPECT_EQ(s.misses_low, 2u);
    EXPECT_EQ(s.misses_skip, 0u);
    EXPECT_EQ(s.bytes_demand, static_cast<uint64_t>(3 * high + low));
    EXPECT_EQ(l.backend->copied, s.bytes_demand);
    EXPECT_EQ(l.loader->sequence_stats(2).lookups, 2u);
    EXPECT_EQ(l.loader->sequence_stats(2).misses_high, 1u);  // its e3 pair
    // The output is the weighted sum over every pair of the copy its expert was resolved to
    // (t1's e3 pair rides on the high copy t2 asked for), computed here in double precision
    // from the dequantized copies.
    const bool high_copy[4] = {true, false, true, true};
    std::vector<double> ref(3 * n_embd, 0.0);
    for (int t = 0; t < 3; ++t) {
      for (int j = 0; j < 2; ++j) {
        const int e = ids[t * 2 + j];
        const std::vector<double> y =
            ExpertForward(l.loader->store().copy(high_copy[e], 0, e), &x[t * n_embd]);
        for (int i = 0; i < n_embd; ++i) ref[t * n_embd + i] += w[t * 2 + j] * y[i];
      }
    }
    for (int i = 0; i < 3 * n_embd; ++i) EXPECT_NEAR(out[i], ref[i], 1e-4 * (1.0 + std::abs(ref[i]))) << i;
  }
  // t0: e1 (s 0) asks high, only the low copy is resident: low-served-high; e4 (s 0.5) high.
  // t1: e5 high; e6 (s 0.97) skip. Nothing else routes to e6: skipped.
  {
    const int32_t ids[4] = {1, 4, 5, 6};
    const float w[4] = {0.5f, 0.5f, 0.97f, 0.03f};
    ASSERT_TRUE(l.loader->Run(0, x.data(), ExpertRouting{2, 2, ids, w, seqs}, out.data()).ok());
    const ExpertStats s = l.loader->EndSequence(1);
    EXPECT_EQ(s.lookups, 6u + 4u - 2u);  // sequence 2's two pairs were in the first call
    EXPECT_EQ(s.hits_low, 1u);
    EXPECT_EQ(s.low_served_high, 1u);
    EXPECT_EQ(s.misses_skip, 1u);
    EXPECT_EQ(l.loader->total_stats().misses_high, 6u);
    EXPECT_EQ(l.loader->sequence_stats(1).lookups, 0u);  // ended
  }
}

TEST(OffloadedExpertFfnTest, PacedCopiesMakeTheLayerWait) {
  Loaded probe = Load(kMixtral + "model-f32.gguf", std::nullopt);
  ExpertOptions o;
  o.mode = ExpertMode::kOndemandLru;
  o.gpu_cache_bytes = 2 * 2 * HighSlotBytes(probe);
  o.copy_bandwidth = 20e6;  // 20 MB/s: a 48 KiB expert takes ~2.5 ms
  Loaded l = Load(kMixtral + "model-f32.gguf", o);
  ASSERT_NE(l.model, nullptr);
  const absl::Time start = absl::Now();
  RunSequence(l);
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const ExpertStats& s = l.loader->total_stats();
  const double floor = static_cast<double>(s.bytes_demand) / o.copy_bandwidth;
  EXPECT_GT(s.load_wait_seconds, 0.5 * floor);
  EXPECT_GE(elapsed, 0.9 * floor);
}

TEST(OffloadedExpertFfnTest, PacedPrefetchesThatArriveAfterTheirLayerStartsAreLate) {
  Loaded probe = Load(kMixtral + "model-f32.gguf", std::nullopt);
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.balanced = PrecisionThresholds{1.0f, 1.0f};
  o.gpu_cache_bytes = 6 * HighSlotBytes(probe);
  o.high_pool_fraction = 1.0;
  o.prefetch_depth = 1;
  o.copy_bandwidth = 10e6;  // ~5 ms per expert, far longer than a layer of this model
  o.prefetch_throttle = false;  // the paper's unconditional prefetch
  Loaded l = Load(kMixtral + "model-f32.gguf", o);
  ASSERT_NE(l.model, nullptr);
  RunSequence(l);
  const ExpertStats& s = l.loader->total_stats();
  ASSERT_GT(s.prefetch_used, 0u);
  // Each prefetch queues behind its layer's on-demand copies and takes ~5 ms; the layer
  // between takes microseconds, so (short of a stall of the test process) all are late.
  EXPECT_GT(s.prefetch_late, 0u);
  EXPECT_LE(s.prefetch_late, s.prefetch_used);
  EXPECT_EQ(s.prefetch_used + s.prefetch_wasted, s.prefetch_issued);
}

// The throttle: on a link where a copy takes ~5 ms and a layer microseconds, a wrong prefetch
// costs a thousand times what a right one gains, so (almost) none is issued; the unthrottled
// loader issues them for every predicted miss. (With free copies the throttle lets every
// prefetch through: HobbitWithQualityThresholdsEqualsResident.)
TEST(OffloadedExpertFfnTest, ThrottleStopsPrefetchingWhereCopiesAreFarSlowerThanLayers) {
  Loaded probe = Load(kMixtral + "model-f32.gguf", std::nullopt);
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.balanced = PrecisionThresholds{1.0f, 1.0f};
  o.gpu_cache_bytes = 6 * HighSlotBytes(probe);
  o.high_pool_fraction = 1.0;
  o.prefetch_depth = 1;
  o.copy_bandwidth = 10e6;
  uint64_t issued[2] = {0, 0};
  for (bool throttle : {false, true}) {
    o.prefetch_throttle = throttle;
    Loaded l = Load(kMixtral + "model-f32.gguf", o);
    ASSERT_NE(l.model, nullptr);
    RunSequence(l);
    issued[throttle] = l.loader->total_stats().prefetch_issued;
  }
  EXPECT_GT(issued[0], 4u);
  // A stall of the test process longer than a copy can let one or two through.
  EXPECT_LE(issued[1] * 4, issued[0]) << issued[1] << " throttled vs " << issued[0] << " unthrottled";
}

// The CPU path: on a slow (paced) link the loader computes some misses on the CPU from their host
// copies instead of copying them. With T1 = T2 = 1 every expert still runs in high precision, so
// the logits equal resident's up to the order the outputs are summed in; the counters add up with
// host-computed misses counted as misses that copied nothing.
TEST(OffloadedExpertFfnTest, CpuPathComputesMissesOnTheHostWhenTheLinkIsSlow) {
  Loaded resident = Load(kMixtral + "model-f32.gguf", std::nullopt);
  ASSERT_NE(resident.model, nullptr);
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.balanced = PrecisionThresholds{1.0f, 1.0f};
  o.gpu_cache_bytes = 7 * HighSlotBytes(resident);
  o.prefetch_depth = 1;
  o.copy_bandwidth = 20e6;  // ~2.5 ms per expert copy; the CPU computes one in microseconds
  o.cpu_path = true;
  o.cpu_path_threads = 2;
  Loaded l = Load(kMixtral + "model-f32.gguf", o);
  ASSERT_NE(l.model, nullptr);
  const std::vector<float> want = RunSequence(resident);
  l.backend->copied = 0;
  const std::vector<float> got = RunSequence(l);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LT(test_support::RelativeError(got, want), 1e-5);
  const ExpertStats& s = l.loader->total_stats();
  ExpectCountersAddUp(s, l.backend->copied);
  EXPECT_GT(s.misses_host, 0u);
  EXPECT_LE(s.misses_host, s.misses_high + s.misses_low);
  EXPECT_EQ(s.misses_low + s.misses_skip + s.hits_low, 0u);
}

// Random routings (batch sizes, thresholds, sequences) through a tight cache under a device
// budget: every step succeeds, the device budget holds, counters add up, and no pin outlives
// the forward pass.
TEST(OffloadedExpertFfnTest, PropertyRandomRoutingKeepsBudgetAndPins) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed);
    Loaded probe = Load(kMixtral + "model-f32.gguf", std::nullopt);
    const int64_t slot = HighSlotBytes(probe);
    ExpertOptions o;
    o.mode = seed % 3 == 0 ? ExpertMode::kStaticLow : ExpertMode::kHobbit;
    o.gpu_cache_bytes = slot * (2 + rng() % 6);
    o.high_pool_fraction = 0.5 + 0.1 * (rng() % 5);
    o.prefetch_depth = static_cast<int32_t>(rng() % 3);
    o.balanced = PrecisionThresholds{0.3f, 0.7f};
    Loaded l = Load(kMixtral + "model-f32.gguf", o);
    ASSERT_NE(l.model, nullptr) << "seed " << seed;
    const ModelConfig& c = l.model->config();
    const int64_t device_before = static_cast<int64_t>(l.loader->cache().allocated_bytes(Precision::kHigh) +
                                                       l.loader->cache().allocated_bytes(Precision::kLow));
    EXPECT_LE(device_before, o.gpu_cache_bytes);
    l.backend->copied = 0;
    for (int step = 0; step < 30; ++step) {
      const int32_t n = 1 + static_cast<int32_t>(rng() % 9);
      std::vector<float> x(static_cast<size_t>(n) * c.n_embd), out(x.size(), 0.0f);
      std::normal_distribution<float> normal;
      for (float& v : x) v = normal(rng);
      std::vector<int32_t> ids(static_cast<size_t>(n) * 2);
      std::vector<float> w(ids.size());
      std::vector<int64_t> seqs(static_cast<size_t>(n));
      for (int32_t t = 0; t < n; ++t) {
        ids[2 * t] = static_cast<int32_t>(rng() % c.n_expert);
        ids[2 * t + 1] = (ids[2 * t] + 1 + static_cast<int32_t>(rng() % (c.n_expert - 1))) % c.n_expert;
        w[2 * t] = 0.5f + 0.5f * std::uniform_real_distribution<float>()(rng);
        w[2 * t + 1] = 1.0f - w[2 * t];
        seqs[t] = rng() % 3;
      }
      for (int32_t layer = 0; layer < c.n_layer; ++layer) {
        auto s = l.loader->Run(layer, x.data(), ExpertRouting{n, 2, ids.data(), w.data(), seqs.data()}, out.data());
        ASSERT_TRUE(s.ok()) << s << " seed " << seed << " step " << step;
      }
      for (Precision p : {Precision::kHigh, Precision::kLow}) {
        for (int32_t i = 0; i < l.loader->cache().num_slots(p); ++i) {
          EXPECT_FALSE(l.loader->cache().pinned(p, i)) << "seed " << seed << " step " << step;
        }
      }
      if (rng() % 5 == 0) l.loader->EndSequence(rng() % 3);
    }
    const ExpertStats& s = l.loader->total_stats();
    ExpectCountersAddUp(s, l.backend->copied);
    EXPECT_EQ(s.lookups, s.tokens * 2 * 2);
    EXPECT_EQ(l.loader->cache().allocated_bytes(Precision::kHigh) + l.loader->cache().allocated_bytes(Precision::kLow),
              device_before);
  }
}

// The 8-bit profile: Q8_0 highs with int2 (Q2_K) lows where rows are multiples of 256 (the
// synthetic `tiny` preset: gate/up rows of 128 fall back to Q4_1, down rows of 256 are Q2_K).
TEST(OffloadedExpertFfnTest, Int2ProfileServesQ2KCopies) {
  const std::string path = ::testing::TempDir() + "/hobbit_experts_tiny_q8_0.gguf";
  tools::SynthOptions so;
  so.preset = "tiny";
  so.type = kernels::GgmlType::kQ8_0;
  ASSERT_TRUE(tools::WriteSynthModel(so, path).ok());
  ExpertOptions o;
  o.mode = ExpertMode::kStaticLow;
  o.low_format = LowFormat::kAuto;
  o.gpu_cache_bytes = 1 << 20;
  Loaded l = Load(path, o);
  ASSERT_NE(l.model, nullptr);
  const ExpertCopy& low = l.loader->store().low(0, 0);
  EXPECT_EQ(low.gate.type, static_cast<uint32_t>(kernels::GgmlType::kQ4_1));
  EXPECT_EQ(low.down.type, static_cast<uint32_t>(kernels::GgmlType::kQ2_K));
  const std::vector<double> hi = Dequantized(l.loader->store().high(1, 3).down);
  const std::vector<double> lo = Dequantized(l.loader->store().low(1, 3).down);
  double num = 0, den = 0;
  for (size_t i = 0; i < hi.size(); ++i) {
    num += (hi[i] - lo[i]) * (hi[i] - lo[i]);
    den += hi[i] * hi[i];
  }
  EXPECT_LT(std::sqrt(num / den), 0.45);  // 2-bit groups of 16: ~0.3 on Gaussian weights
  SequenceRunner runner(*l.model, *l.backend);
  ASSERT_TRUE(runner.Init(32).ok());
  StepOutput out;
  const int32_t tokens[6] = {1, 17, 300, 42, 1000, 7};
  ASSERT_TRUE(runner.Append(tokens, LogitsWanted::kAll, &out).ok());
  for (float v : out.logits) ASSERT_TRUE(std::isfinite(v));
  EXPECT_GT(l.loader->total_stats().misses_low, 0u);
  std::remove(path.c_str());
}

TEST(OffloadedExpertFfnTest, ResidentModeIsRefusedAndSmallBudgetsNamed) {
  auto file = GgufFile::Open(kMixtral + "model-f32.gguf");
  ASSERT_TRUE(file.ok());
  std::shared_ptr<const GgufFile> shared = std::move(*file);
  CpuBackend backend;
  ExpertOptions o;
  auto model = Model::Load(shared, backend, {.expert_ffn = std::make_unique<OffloadedExpertFfn>(o, shared)});
  EXPECT_TRUE(absl::IsInvalidArgument(model.status())) << model.status();
  o.mode = ExpertMode::kOndemandLru;
  o.gpu_cache_bytes = 1000;
  model = Model::Load(shared, backend, {.expert_ffn = std::make_unique<OffloadedExpertFfn>(o, shared)});
  EXPECT_TRUE(absl::IsInvalidArgument(model.status())) << model.status();
  EXPECT_NE(model.status().message().find("high pool"), std::string::npos) << model.status();
}

}  // namespace
}  // namespace hobbit::runtime
