// Engine tests on real tiny MoE models (tests/fixtures/hf_tiny, made by make_hf_tiny.py): the
// greedy continuation matches the reference the fixture script computed (Hugging Face
// transformers for F32, its numpy forward for Q8_0), and 16 concurrent requests with chunked
// prefill and KV preemption produce exactly what each produces alone.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_parts.h"
#include "runtime/engine/model_step_executor.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model_config.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/tokenizer_vocab.h"
#include "tests/runtime/engine/engine_test_util.h"
#include "tests/support/recording_backend.h"

namespace hobbit::runtime {
namespace {

struct Fixture {
  std::string dir;    // under tests/fixtures/hf_tiny
  std::string model;  // GGUF file name
  std::string greedy; // reference continuation of prompt.txt
};

std::vector<int32_t> ReadIds(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<int32_t> ids;
  int32_t id;
  while (in >> id) ids.push_back(id);
  return ids;
}

std::string FixturePath(const Fixture& f, const std::string& file) {
  return std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/" + f.dir + "/" + file;
}

class EngineModelTest : public ::testing::TestWithParam<Fixture> {
 protected:
  std::unique_ptr<Engine> MakeEngine(const EngineOptions& options) {
    std::vector<std::string> progress;
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        Engine::Create(options, [&progress](std::string_view line) { progress.emplace_back(line); });
    EXPECT_TRUE(engine.ok()) << engine.status();
    EXPECT_FALSE(progress.empty());
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  EngineOptions Options() const {
    EngineOptions o;
    o.model_path = FixturePath(GetParam(), GetParam().model);
    o.cpu_threads = 2;
    return o;
  }
};

GenerateRequest Greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerateRequest r;
  r.prompt_tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  r.ignore_eos = true;  // the reference ran past EOS too
  return r;
}

TEST_P(EngineModelTest, GreedyMatchesReference) {
  std::unique_ptr<Engine> engine = MakeEngine(Options());
  ASSERT_NE(engine, nullptr);
  const std::vector<int32_t> prompt = ReadIds(FixturePath(GetParam(), "prompt.txt"));
  const std::vector<int32_t> expected = ReadIds(FixturePath(GetParam(), GetParam().greedy));
  ASSERT_FALSE(prompt.empty());
  ASSERT_FALSE(expected.empty());
  EventRecorder rec;
  absl::StatusOr<RequestId> id = engine->Submit(Greedy(prompt, static_cast<int32_t>(expected.size())), rec.Sink());
  ASSERT_TRUE(id.ok()) << id.status();
  RequestResult r = rec.WaitFinal(*id);
  EXPECT_EQ(r.final.reason, FinishReason::kLength);
  EXPECT_EQ(r.tokens, expected);
  EXPECT_EQ(r.text, engine->tokenizer().Decode(r.tokens, /*skip_special=*/true));
}

// 16 greedy requests of mixed prompt and output lengths (prompts of up to 56 tokens).
std::vector<GenerateRequest> MixedRequests(const std::vector<int32_t>& base, const ModelConfig& config) {
  std::mt19937 rng(11);
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> prompt(base.begin(), base.begin() + 1 + rng() % base.size());
    const int extra = static_cast<int>(rng() % 32);
    for (int k = 0; k < extra; ++k) prompt.push_back(static_cast<int32_t>(3 + rng() % (config.n_vocab - 3)));
    requests.push_back(Greedy(prompt, 8 + static_cast<int32_t>(rng() % 25)));
  }
  return requests;
}

// One request at a time.
std::vector<RequestResult> RunAlone(Engine& engine, const std::vector<GenerateRequest>& requests) {
  std::vector<RequestResult> results;
  EventRecorder rec;
  for (const GenerateRequest& r : requests) {
    absl::StatusOr<RequestId> id = engine.Submit(r, rec.Sink());
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return results;
    results.push_back(rec.WaitFinal(*id));
  }
  return results;
}

// All at once; each result must equal `alone`'s.
void RunTogetherAndCompare(Engine& engine, const std::vector<GenerateRequest>& requests,
                           const std::vector<RequestResult>& alone) {
  ASSERT_EQ(alone.size(), requests.size());
  EventRecorder rec;
  std::vector<RequestId> ids;
  for (const GenerateRequest& r : requests) {
    absl::StatusOr<RequestId> id = engine.Submit(r, rec.Sink());
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(i);
    RequestResult got = rec.WaitFinal(ids[i]);
    EXPECT_EQ(got.final.reason, FinishReason::kLength);
    EXPECT_EQ(got.tokens, alone[i].tokens);
    EXPECT_EQ(got.text, alone[i].text);
  }
}

// KV-cache bytes for `blocks` blocks of the model's layers, of `options`' block size and element
// type on `backend` (an engine's backend_name(): with engine.backend auto, a GPU host runs CUDA).
int64_t CacheBytes(const ModelConfig& config, const KvOptions& options, const std::string& backend, int32_t blocks) {
  const int64_t bytes_per_token = int64_t{config.n_layer} * config.n_head_kv * (config.head_dim_k + config.head_dim_v) *
                                  kernels::KvCacheTypeBytes(kernels::KvCacheTypeFor(options.type, backend));
  return bytes_per_token * options.block_size * blocks;
}

// An engine on a CPU backend that records decode steps the way the CUDA backend does
// (tests/support/recording_backend.h), so engine.device_routing and engine.cuda_graphs take effect.
std::unique_ptr<Engine> MakeRecordingEngine(const EngineOptions& options) {
  absl::StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(options.model_path);
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return nullptr;
  std::shared_ptr<const GgufFile> file = std::move(*opened);
  EngineParts parts;
  absl::StatusOr<TokenizerVocab> vocab = LoadTokenizerVocab(*file);
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  if (!vocab.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Create(std::move(*vocab));
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  if (!tokenizer.ok()) return nullptr;
  parts.tokenizer = std::move(*tokenizer);
  absl::StatusOr<std::unique_ptr<ModelStepExecutor>> executor =
      ModelStepExecutor::Create(file, options, {}, std::make_unique<test_support::RecordingCpuBackend>());
  EXPECT_TRUE(executor.ok()) << executor.status();
  if (!executor.ok()) return nullptr;
  parts.model_config = (*executor)->model_config();
  parts.num_kv_blocks = (*executor)->num_kv_blocks();
  parts.executor = std::move(*executor);
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::CreateFromParts(options, std::move(parts));
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

// The workload of the two batching tests: prefill in chunks of 48 tokens, 8-token KV blocks, and
// 16 mixed greedy requests sized to the model (whose config an engine from `make` reports).
struct ConcurrentWorkload {
  EngineOptions options;
  ModelConfig config;
  std::string backend;  // the probe engine's backend_name()
  std::vector<GenerateRequest> requests;
};

std::optional<ConcurrentWorkload> MakeConcurrentWorkload(
    EngineOptions options, const Fixture& fixture,
    const std::function<std::unique_ptr<Engine>(const EngineOptions&)>& make) {
  options.scheduler.step_token_budget = 48;  // prompts of up to 56 tokens prefill in chunks
  options.kv.block_size = 8;
  std::unique_ptr<Engine> probe = make(options);
  if (probe == nullptr) return std::nullopt;
  const ModelConfig config = probe->model_config();
  const std::string backend = probe->backend_name();
  probe.reset();
  std::vector<GenerateRequest> requests = MixedRequests(ReadIds(FixturePath(fixture, "prompt.txt")), config);
  return ConcurrentWorkload{std::move(options), config, backend, std::move(requests)};
}

TEST_P(EngineModelTest, ConcurrentGreedyMatchesAlone) {
  std::optional<ConcurrentWorkload> workload =
      MakeConcurrentWorkload(Options(), GetParam(), [this](const EngineOptions& o) { return MakeEngine(o); });
  ASSERT_TRUE(workload.has_value());
  EngineOptions& options = workload->options;
  const ModelConfig& config = workload->config;
  const std::vector<GenerateRequest>& requests = workload->requests;
  std::vector<RequestResult> alone;
  {
    std::unique_ptr<Engine> engine = MakeEngine(options);
    ASSERT_NE(engine, nullptr);
    alone = RunAlone(*engine, requests);
  }
  // Together, with a KV cache of 40 blocks (320 tokens) for ~1000 tokens of work: continuous
  // batching, chunked prefill and preemption with recompute.
  options.kv.cache_bytes = CacheBytes(config, options.kv, workload->backend, 40);
  std::unique_ptr<Engine> engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->GetStats().kv_blocks_total, 40);
  RunTogetherAndCompare(*engine, requests, alone);
  const EngineStats stats = engine->GetStats();
  EXPECT_GT(stats.preemptions, 0u) << "the workload was meant to exhaust the KV cache";
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.requests_finished, 16u);
}

// kv.type: the same kv.cache_bytes holds twice the blocks in half as in float32 (auto, the
// default, is float32 on the CPU backend and half on CUDA), and both serve the reference's greedy
// tokens.
TEST_P(EngineModelTest, KvTypeSizesTheCacheAndBothTypesServe) {
  EngineOptions options = Options();
  std::unique_ptr<Engine> probe = MakeEngine(options);
  ASSERT_NE(probe, nullptr);
  const ModelConfig config = probe->model_config();
  const std::string backend = probe->backend_name();
  probe.reset();
  ASSERT_EQ(options.kv.type, kernels::KvCacheSetting::kAuto);
  KvOptions f32 = options.kv;
  f32.type = kernels::KvCacheSetting::kF32;
  options.kv.cache_bytes = CacheBytes(config, f32, backend, 24);
  std::unique_ptr<Engine> automatic = MakeEngine(options);
  ASSERT_NE(automatic, nullptr);
  EXPECT_EQ(automatic->GetStats().kv_blocks_total, backend == "cuda" ? 48 : 24) << backend;
  options.kv.type = kernels::KvCacheSetting::kF16;
  std::unique_ptr<Engine> half = MakeEngine(options);
  ASSERT_NE(half, nullptr);
  EXPECT_EQ(half->GetStats().kv_blocks_total, 48);
  options.kv.type = kernels::KvCacheSetting::kF32;
  std::unique_ptr<Engine> full = MakeEngine(options);
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->GetStats().kv_blocks_total, 24);
  const std::vector<int32_t> prompt = ReadIds(FixturePath(GetParam(), "prompt.txt"));
  const std::vector<int32_t> greedy = ReadIds(FixturePath(GetParam(), GetParam().greedy));
  for (Engine* engine : {half.get(), full.get()}) {
    EventRecorder rec;
    absl::StatusOr<RequestId> id = engine->Submit(Greedy(prompt, static_cast<int32_t>(greedy.size())), rec.Sink());
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(rec.WaitFinal(*id).tokens, greedy);
  }
}

// Continuous batching with recorded decode steps (engine.cuda_graphs, on by default): the
// concurrent workload above — batches that change size every few steps, chunked prefill,
// preemption with recompute — on the recording backend gives exactly what each request gives
// alone with every step run directly, and steps were replayed. (mixtral records a shape per batch
// size up to 4; qwen2moe, top-4 of 6 experts, routes on the device at batch 1 only.)
TEST_P(EngineModelTest, RecordedDecodeStepsUnderContinuousBatching) {
  std::optional<ConcurrentWorkload> workload = MakeConcurrentWorkload(Options(), GetParam(), MakeRecordingEngine);
  ASSERT_TRUE(workload.has_value());
  EngineOptions& options = workload->options;
  const ModelConfig& config = workload->config;
  const std::vector<GenerateRequest>& requests = workload->requests;
  std::vector<RequestResult> alone;
  {
    EngineOptions direct = options;
    direct.cuda_graphs = false;
    std::unique_ptr<Engine> engine = MakeRecordingEngine(direct);
    ASSERT_NE(engine, nullptr);
    alone = RunAlone(*engine, requests);
    EXPECT_EQ(engine->GetStats().recordings.replayed, 0u);
  }
  options.kv.cache_bytes = CacheBytes(config, options.kv, workload->backend, 40);
  ASSERT_TRUE(options.cuda_graphs);
  std::unique_ptr<Engine> engine = MakeRecordingEngine(options);
  ASSERT_NE(engine, nullptr);
  RunTogetherAndCompare(*engine, requests, alone);
  const EngineStats stats = engine->GetStats();
  EXPECT_GT(stats.preemptions, 0u);
  EXPECT_GT(stats.recordings.recorded, 0u);
  EXPECT_GT(stats.recordings.replayed, stats.recordings.recorded) << "recorded shapes were meant to be replayed";
  std::printf("%s %s: %llu shapes recorded, %llu steps replayed, %llu failed, %llu steps in all\n",
              GetParam().dir.c_str(), GetParam().model.c_str(),
              static_cast<unsigned long long>(stats.recordings.recorded),
              static_cast<unsigned long long>(stats.recordings.replayed),
              static_cast<unsigned long long>(stats.recordings.failed), static_cast<unsigned long long>(stats.steps));
}

INSTANTIATE_TEST_SUITE_P(HfTiny, EngineModelTest,
                         ::testing::Values(Fixture{"mixtral", "model-f32.gguf", "greedy.txt"},
                                           Fixture{"mixtral", "model-q8_0.gguf", "greedy_q8_0.txt"},
                                           Fixture{"qwen2moe", "model-f32.gguf", "greedy.txt"},
                                           Fixture{"qwen2moe", "model-q8_0.gguf", "greedy_q8_0.txt"}),
                         [](const ::testing::TestParamInfo<Fixture>& info) {
                           std::string name = info.param.dir + "_" + info.param.model;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace hobbit::runtime
