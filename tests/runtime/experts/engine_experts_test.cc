// The expert loader behind the Engine: options.experts selects it, greedy output under
// ondemand-lru matches the fixture's reference continuation, each final event carries its
// sequence's expert statistics and EngineStats the totals.
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/engine/engine.h"
#include "tests/runtime/engine/engine_test_util.h"
#include "tests/support/fixture_files.h"

namespace hobbit::runtime {
namespace {

using test_support::ReadIds;

const std::string kMixtral = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/mixtral/";

GenerateRequest Greedy(std::vector<int32_t> prompt, int32_t max_tokens, PrecisionPolicy policy) {
  GenerateRequest r;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  r.ignore_eos = true;
  r.precision_policy = policy;
  return r;
}

std::unique_ptr<Engine> MakeEngine(ExpertMode mode, int64_t cache_bytes) {
  EngineOptions o;
  o.model_path = kMixtral + "model-f32.gguf";
  o.cpu_threads = 2;
  o.experts.mode = mode;
  o.experts.gpu_cache_bytes = cache_bytes;
  auto engine = Engine::Create(o);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

// Three F32 matrices of 64 x 64 (the fixture's expert shape).
constexpr int64_t kExpertBytes = 3 * 64 * 64 * 4;

TEST(EngineExpertsTest, OndemandLruMatchesTheReferenceContinuation) {
  std::unique_ptr<Engine> engine = MakeEngine(ExpertMode::kOndemandLru, 2 * 2 * kExpertBytes);
  ASSERT_NE(engine, nullptr);
  const std::vector<int32_t> expected = ReadIds(kMixtral + "greedy.txt");
  EventRecorder rec;
  auto id = engine->Submit(Greedy(ReadIds(kMixtral + "prompt.txt"), static_cast<int32_t>(expected.size()),
                                  PrecisionPolicy::kDefault),
                           rec.Sink());
  ASSERT_TRUE(id.ok()) << id.status();
  RequestResult r = rec.WaitFinal(*id);
  EXPECT_EQ(r.tokens, expected);
  const SequenceExpertStats& s = r.final.expert_stats;
  EXPECT_GT(s.lookups, 0u);
  EXPECT_EQ(s.hits_high + s.misses_high, s.lookups);
  EXPECT_GT(s.bytes_demand, 0u);
}

TEST(EngineExpertsTest, FinalEventsCarryPerSequenceStatsThatSumToTheTotals) {
  std::unique_ptr<Engine> engine = MakeEngine(ExpertMode::kHobbit, 6 * kExpertBytes);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->GetStats().experts.lookups, 0u);  // the warm-up does not count
  const std::vector<int32_t> prompt = ReadIds(kMixtral + "prompt.txt");
  EventRecorder rec;
  std::vector<RequestId> ids;
  for (PrecisionPolicy p : {PrecisionPolicy::kQuality, PrecisionPolicy::kBalanced, PrecisionPolicy::kSpeed}) {
    auto id = engine->Submit(Greedy(prompt, 12, p), rec.Sink());
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  uint64_t lookups = 0, bytes = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const SequenceExpertStats s = rec.WaitFinal(ids[i]).final.expert_stats;
    // Every token of the sequence looks up top-2 experts in each of the 2 layers.
    EXPECT_EQ(s.lookups, (prompt.size() + 12 - 1) * 2 * 2) << "request " << i;
    EXPECT_EQ(s.hits_high + s.hits_low + s.misses_high + s.misses_low + s.misses_skip, s.lookups);
    if (i == 0) {
      EXPECT_EQ(s.misses_low + s.misses_skip, 0u) << "quality never loads low nor skips";
    }
    lookups += s.lookups;
    bytes += s.bytes_demand + s.bytes_prefetch;
  }
  const EngineStats total = engine->GetStats();
  EXPECT_EQ(total.experts.lookups, lookups);
  EXPECT_EQ(total.experts.bytes_demand + total.experts.bytes_prefetch, bytes);
  EXPECT_EQ(total.experts.prefetch_used + total.experts.prefetch_wasted, total.experts.prefetch_issued);
}

TEST(EngineExpertsTest, BadOptionsNameTheKey) {
  EngineOptions o;
  o.model_path = kMixtral + "model-f32.gguf";
  o.experts.mode = ExpertMode::kHobbit;
  o.experts.gpu_cache_bytes = 6 * kExpertBytes;
  o.experts.balanced.t1 = 0.95f;  // above t2
  auto engine = Engine::Create(o);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("experts.t2"), std::string::npos) << engine.status();
}

}  // namespace
}  // namespace hobbit::runtime
