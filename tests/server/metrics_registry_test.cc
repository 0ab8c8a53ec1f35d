// MetricsRegistry in process: an engine around a stand-in step executor feeds the engine-wide
// series at each scrape (the daemon's /metrics figures from the engine's counters). The daemon
// end to end is tests/integration/metrics_test.cc, where a CPU model reports zeros for the
// CUDA-only series; here the stand-in reports figures a CUDA model would.
#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_parts.h"
#include "server/metrics_registry.h"
#include "tests/runtime/engine/engine_test_util.h"
#include "tests/runtime/engine/fake_step_executor.h"
#include "tests/support/http_get.h"

namespace hobbit::server {
namespace {

using runtime::EngineOptions;
using runtime::EngineParts;
using runtime::FakeStepExecutor;
using test_support::HttpGet;
using test_support::SampleValue;

TEST(MetricsRegistryTest, TheEnginesRecordedStepsReachTheGraphSeries) {
  absl::StatusOr<std::unique_ptr<MetricsRegistry>> metrics = MetricsRegistry::Start({.listen = "127.0.0.1:0"}, "test");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EngineOptions options;
  options.kv.block_size = 4;
  constexpr int32_t kVocab = 64, kBlocks = 32;
  auto fake = std::make_unique<FakeStepExecutor>(FakeStepExecutor::Mode::kSuccessor, kVocab, kBlocks,
                                                 options.kv.block_size);
  fake->set_recordings({.recorded = 2, .replayed = 5, .failed = 1});
  EngineParts parts;
  parts.executor = std::move(fake);
  parts.tokenizer = runtime::MakeTestTokenizer();
  parts.model_config.n_vocab = kVocab;
  parts.model_config.n_ctx_train = 128;
  parts.num_kv_blocks = kBlocks;
  absl::StatusOr<std::unique_ptr<runtime::Engine>> engine = runtime::Engine::CreateFromParts(options, std::move(parts));
  ASSERT_TRUE(engine.ok()) << engine.status();
  (*metrics)->AttachEngine(engine->get());
  // One request: its steps publish the executor's figures into the engine's stats.
  runtime::EventRecorder rec;
  runtime::GenerateRequest request;
  request.prompt_tokens = {3, 4, 5};
  request.max_tokens = 4;
  request.sampling.temperature = 0.0f;
  absl::StatusOr<runtime::RequestId> id = (*engine)->Submit(request, rec.Sink());
  ASSERT_TRUE(id.ok()) << id.status();
  rec.WaitFinal(*id);
  absl::StatusOr<std::string> text = HttpGet((*metrics)->port(), "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(SampleValue(*text, "hobbit_decode_graph_replays_total"), 5) << *text;
  EXPECT_EQ(SampleValue(*text, "hobbit_decode_graph_recordings_total{outcome=\"made\"}"), 2);
  EXPECT_EQ(SampleValue(*text, "hobbit_decode_graph_recordings_total{outcome=\"failed\"}"), 1);
  (*metrics)->AttachEngine(nullptr);
}

}  // namespace
}  // namespace hobbit::server
