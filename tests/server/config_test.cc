#include "server/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace hobbit::server {
namespace {

// Asserts that parsing fails with InvalidArgument and that the message holds every fragment.
void ExpectError(const std::string& yaml, const std::vector<std::string>& fragments) {
  absl::StatusOr<DaemonConfig> config = ParseDaemonConfig(yaml, "test.yaml");
  ASSERT_FALSE(config.ok()) << "accepted:\n" << yaml;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& fragment : fragments) {
    EXPECT_NE(config.status().message().find(fragment), absl::string_view::npos)
        << "missing '" << fragment << "' in: " << config.status().message();
  }
}

TEST(ConfigTest, EmptyDocumentGivesTheDefaults) {
  absl::StatusOr<DaemonConfig> config = ParseDaemonConfig("", "empty.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.model_path, std::string(kDefaultModelPath));
  EXPECT_EQ(config->server.listen, GrpcServerOptions().listen);
  EXPECT_EQ(config->engine.scheduler.max_running, runtime::SchedulerOptions().max_running);
}

TEST(ConfigTest, ReadsEveryKindOfValue) {
  absl::StatusOr<DaemonConfig> config = ParseDaemonConfig(R"(
model:
  path: /models/qwen.gguf
engine:
  backend: cuda
  cpu_threads: 4
scheduler:
  max_running: 3
  max_context: 2048
kv:
  cache_bytes: 1073741824
server:
  listen: "[::1]:7000"
  permit_keepalive_without_calls: false
  drain_timeout_seconds: 2.5
metrics:
  listen: 0.0.0.0:9100
log:
  level: debug
)",
                                                          "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.model_path, "/models/qwen.gguf");
  EXPECT_EQ(config->engine.backend, "cuda");
  EXPECT_EQ(config->engine.cpu_threads, 4);
  EXPECT_EQ(config->engine.scheduler.max_running, 3);
  EXPECT_EQ(config->engine.scheduler.max_context, 2048);
  EXPECT_EQ(config->engine.kv.cache_bytes, int64_t{1} << 30);
  EXPECT_EQ(config->server.listen, "[::1]:7000");
  EXPECT_FALSE(config->server.permit_keepalive_without_calls);
  EXPECT_DOUBLE_EQ(config->server.drain_timeout_seconds, 2.5);
  EXPECT_EQ(config->metrics.listen, "0.0.0.0:9100");
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  // Keys not in the file keep their defaults.
  EXPECT_EQ(config->engine.scheduler.max_waiting, runtime::SchedulerOptions().max_waiting);
}

TEST(ConfigTest, UnknownKeyNamesKeyAndLine) {
  ExpectError("scheduler:\n  max_running: 4\n  max_runing: 5\n",
              {"test.yaml:3:3", "unknown key 'scheduler.max_runing'", "max_running"});
}

TEST(ConfigTest, UnknownSectionNamesSectionAndLine) {
  ExpectError("model:\n  path: a.gguf\nmodels:\n  path: b\n",
              {"test.yaml:3:1", "unknown key 'models'"});
}

TEST(ConfigTest, WrongTypeNamesKeyLineAndExpectation) {
  ExpectError("kv:\n  block_size: sixteen\n",
              {"test.yaml:2:15", "kv.block_size", "expected an integer", "'sixteen'"});
  ExpectError("server:\n  permit_keepalive_without_calls: 1\n",
              {"test.yaml:2", "server.permit_keepalive_without_calls", "true or false"});
  ExpectError("scheduler:\n  max_running: [1, 2]\n", {"scheduler.max_running", "a list"});
  ExpectError("kv:\n  block_size:\n", {"test.yaml:2", "kv.block_size", "got nothing"});
  ExpectError("engine:\n  cpu_threads: 1.5\n", {"engine.cpu_threads", "'1.5'"});
}

TEST(ConfigTest, OutOfRangeNamesTheRange) {
  ExpectError("scheduler:\n  max_running: 0\n", {"test.yaml:2", "scheduler.max_running", "[1, 4096]"});
  ExpectError("server:\n  listen: localhost\n", {"server.listen", "HOST:PORT"});
  ExpectError("server:\n  listen: localhost:70000\n", {"server.listen", "[0, 65535]"});
  ExpectError("engine:\n  backend: tpu\n", {"engine.backend", "cpu, cuda or auto", "'tpu'"});
  ExpectError("log:\n  level: loud\n", {"log.level", "'loud'"});
  ExpectError("server:\n  drain_timeout_seconds: -1\n", {"server.drain_timeout_seconds"});
}

TEST(ConfigTest, SectionMustBeAMapping) {
  ExpectError("scheduler: 5\n", {"test.yaml:1", "'scheduler' must be a mapping"});
  ExpectError("- a\n- b\n", {"test.yaml:1:1", "top level must be a mapping"});
}

TEST(ConfigTest, DuplicateKeyIsAnError) {
  ExpectError("kv:\n  block_size: 16\n  block_size: 32\n",
              {"test.yaml:3:3", "'kv.block_size' appears twice"});
}

TEST(ConfigTest, SyntaxErrorNamesTheLine) {
  ExpectError("kv:\n  block_size: [16\n", {"test.yaml:", "not valid YAML"});
}

TEST(ConfigTest, MissingFileNamesThePath) {
  absl::StatusOr<DaemonConfig> config = LoadDaemonConfigFile("no/such/hobbitd.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("no/such/hobbitd.yaml"), absl::string_view::npos);
}

// A directory reads as empty text, which would silently mean "all defaults" (no TLS, no auth).
TEST(ConfigTest, DirectoryIsNotAConfigFile) {
  absl::StatusOr<DaemonConfig> config = LoadDaemonConfigFile(::testing::TempDir());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("is not a regular file"), absl::string_view::npos) << config.status();
}

TEST(ConfigTest, FlagsOverrideTheFile) {
  std::string path = std::filesystem::temp_directory_path() / "hobbit_config_test_flags.yaml";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("model:\n  path: file.gguf\nserver:\n  listen: 127.0.0.1:1\nlog:\n  level: error\n", f);
    std::fclose(f);
  }
  CommandLineFlags flags;
  flags.config_path = path;
  flags.model_path = "flag.gguf";
  flags.listen = "127.0.0.1:0";
  flags.metrics_listen = "127.0.0.1:9999";
  flags.backend = "cuda";
  flags.cpu_threads = "2";
  absl::StatusOr<DaemonConfig> config = LoadDaemonConfig(flags);
  std::filesystem::remove(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.model_path, "flag.gguf");
  EXPECT_EQ(config->server.listen, "127.0.0.1:0");
  EXPECT_EQ(config->metrics.listen, "127.0.0.1:9999");
  EXPECT_EQ(config->engine.backend, "cuda");
  EXPECT_EQ(config->engine.cpu_threads, 2);
  EXPECT_EQ(config->log_level, LogLevel::kError);  // from the file: no flag
}

TEST(ConfigTest, BadFlagValueNamesFlagAndKey) {
  CommandLineFlags flags;
  flags.cpu_threads = "many";
  absl::StatusOr<DaemonConfig> config = LoadDaemonConfig(flags);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--cpu-threads (engine.cpu_threads)"),
            absl::string_view::npos)
      << config.status();
}

// The shipped default file shows exactly the defaults the C++ schema has.
TEST(ConfigTest, DefaultFileMatchesTheBuiltInDefaults) {
  absl::StatusOr<DaemonConfig> file = LoadDaemonConfigFile(std::string(HOBBIT_SOURCE_DIR) + "/config/hobbitd.yaml");
  ASSERT_TRUE(file.ok()) << file.status();
  const DaemonConfig defaults;
  EXPECT_EQ(file->engine.model_path, defaults.engine.model_path);
  EXPECT_EQ(file->engine.backend, defaults.engine.backend);
  EXPECT_EQ(file->engine.cpu_threads, defaults.engine.cpu_threads);
  EXPECT_EQ(file->engine.prefill_precision, defaults.engine.prefill_precision);
  EXPECT_EQ(file->engine.kv.type, defaults.engine.kv.type);
  const runtime::SchedulerOptions& fs = file->engine.scheduler;
  const runtime::SchedulerOptions& ds = defaults.engine.scheduler;
  EXPECT_EQ(fs.max_running, ds.max_running);
  EXPECT_EQ(fs.max_waiting, ds.max_waiting);
  EXPECT_EQ(fs.step_token_budget, ds.step_token_budget);
  EXPECT_EQ(fs.max_context, ds.max_context);
  EXPECT_EQ(fs.max_tokens_limit, ds.max_tokens_limit);
  EXPECT_EQ(fs.max_stop_strings, ds.max_stop_strings);
  EXPECT_EQ(fs.max_stop_string_bytes, ds.max_stop_string_bytes);
  EXPECT_EQ(file->engine.kv.block_size, defaults.engine.kv.block_size);
  EXPECT_EQ(file->engine.kv.cache_bytes, defaults.engine.kv.cache_bytes);
  const GrpcServerOptions& fv = file->server;
  const GrpcServerOptions& dv = defaults.server;
  EXPECT_EQ(fv.listen, dv.listen);
  EXPECT_EQ(fv.max_receive_message_bytes, dv.max_receive_message_bytes);
  EXPECT_EQ(fv.max_send_message_bytes, dv.max_send_message_bytes);
  EXPECT_EQ(fv.max_concurrent_streams, dv.max_concurrent_streams);
  EXPECT_EQ(fv.keepalive_time_seconds, dv.keepalive_time_seconds);
  EXPECT_EQ(fv.keepalive_timeout_seconds, dv.keepalive_timeout_seconds);
  EXPECT_EQ(fv.min_client_ping_interval_seconds, dv.min_client_ping_interval_seconds);
  EXPECT_EQ(fv.permit_keepalive_without_calls, dv.permit_keepalive_without_calls);
  EXPECT_DOUBLE_EQ(fv.drain_timeout_seconds, dv.drain_timeout_seconds);
  EXPECT_EQ(file->metrics.listen, defaults.metrics.listen);
  EXPECT_EQ(file->log_level, defaults.log_level);
}

TEST(ConfigTest, EveryFileInConfigLoads) {
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(HOBBIT_SOURCE_DIR) + "/config")) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    absl::StatusOr<DaemonConfig> config = LoadDaemonConfigFile(entry.path().string());
    EXPECT_TRUE(config.ok()) << config.status();
  }
  EXPECT_GE(files, 1);
}

}  // namespace
}  // namespace hobbit::server

namespace hobbit::server {
namespace {

TEST(ConfigTest, ExpertKeysReachTheEngineOptions) {
  absl::StatusOr<DaemonConfig> config = ParseDaemonConfig(
      "experts:\n  mode: hobbit\n  gpu_cache_bytes: 1000000\n  low_format: int2\n  t1: 0.5\n"
      "  prefetch_depth: 2\n  state_dir: /var/lib/hobbit\n",
      "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.experts.mode, runtime::ExpertMode::kHobbit);
  EXPECT_EQ(config->engine.experts.gpu_cache_bytes, 1000000);
  EXPECT_EQ(config->engine.experts.low_format, runtime::LowFormat::kInt2);
  EXPECT_FLOAT_EQ(config->engine.experts.balanced.t1, 0.5f);
  EXPECT_EQ(config->engine.experts.prefetch_depth, 2);
  EXPECT_EQ(config->engine.experts.state_dir, "/var/lib/hobbit");
}

TEST(ConfigTest, PrefillPrecisionReadsEachValue) {
  const std::pair<const char*, runtime::PrefillPrecision> cases[] = {
      {"f16", runtime::PrefillPrecision::kF16},
      {"tf32", runtime::PrefillPrecision::kTf32},
      {"f32", runtime::PrefillPrecision::kF32}};
  // f16 is the default too: tf32 and f32 show that the key is read, f16 that it is accepted.
  EXPECT_EQ(DaemonConfig().engine.prefill_precision, runtime::PrefillPrecision::kF16);
  for (const auto& [name, want] : cases) {
    absl::StatusOr<DaemonConfig> config =
        ParseDaemonConfig(std::string("engine:\n  prefill_precision: ") + name + "\n", "test.yaml");
    ASSERT_TRUE(config.ok()) << name << ": " << config.status();
    EXPECT_EQ(config->engine.prefill_precision, want) << name;
  }
}

TEST(ConfigTest, BadPrefillPrecisionNamesKeyAndValues) {
  ExpectError("engine:\n  prefill_precision: bf16\n",
              {"test.yaml:2:22", "engine.prefill_precision", "f16, tf32 or f32", "'bf16'"});
  ExpectError("engine:\n  prefill_precision: true\n", {"engine.prefill_precision", "f16, tf32 or f32"});
  ExpectError("engine:\n  prefill_precision: [f16]\n", {"engine.prefill_precision", "a list"});
}

// kv.type: auto by default (f16 on CUDA, f32 on the CPU), f16 or f32 on request; other values
// fail naming the key, its place and the accepted values.
TEST(ConfigTest, KvTypeReadsEachValue) {
  EXPECT_EQ(DaemonConfig().engine.kv.type, kernels::KvCacheSetting::kAuto);
  for (const auto& [name, want] :
       {std::pair{"f16", kernels::KvCacheSetting::kF16}, std::pair{"f32", kernels::KvCacheSetting::kF32},
        std::pair{"auto", kernels::KvCacheSetting::kAuto}}) {
    absl::StatusOr<DaemonConfig> config = ParseDaemonConfig(std::string("kv:\n  type: ") + name + "\n", "test.yaml");
    ASSERT_TRUE(config.ok()) << name << ": " << config.status();
    EXPECT_EQ(config->engine.kv.type, want) << name;
  }
  ExpectError("kv:\n  type: bf16\n", {"test.yaml:2:9", "kv.type", "auto, f16 or f32", "'bf16'"});
  ExpectError("kv:\n  type: 16\n", {"kv.type", "auto, f16 or f32"});
  EXPECT_EQ(kernels::KvCacheTypeFor(kernels::KvCacheSetting::kAuto, "cuda"), kernels::KvCacheType::kF16);
  EXPECT_EQ(kernels::KvCacheTypeFor(kernels::KvCacheSetting::kAuto, "cpu"), kernels::KvCacheType::kF32);
  EXPECT_EQ(kernels::KvCacheTypeFor(kernels::KvCacheSetting::kF16, "cpu"), kernels::KvCacheType::kF16);
  EXPECT_EQ(kernels::KvCacheTypeFor(kernels::KvCacheSetting::kF32, "cuda"), kernels::KvCacheType::kF32);
}

// engine.tf32_prefill, the boolean the key replaced, still loads: true is tf32, false is f32.
TEST(ConfigTest, LegacyTf32PrefillMapsToAPrecision) {
  absl::StatusOr<DaemonConfig> on = ParseDaemonConfig("engine:\n  tf32_prefill: true\n", "test.yaml");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(on->engine.prefill_precision, runtime::PrefillPrecision::kTf32);
  absl::StatusOr<DaemonConfig> off = ParseDaemonConfig("engine:\n  tf32_prefill: false\n", "test.yaml");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->engine.prefill_precision, runtime::PrefillPrecision::kF32);
  ExpectError("engine:\n  tf32_prefill: yes\n", {"test.yaml:2", "engine.tf32_prefill", "true or false"});
}

// Which of the two would win must not depend on their order in the file: both is an error.
TEST(ConfigTest, BothPrefillKeysAreAnError) {
  const std::vector<std::string> fragments = {"engine.tf32_prefill", "engine.prefill_precision", "both set",
                                              "keep engine.prefill_precision"};
  std::vector<std::string> first = fragments;
  first.push_back("test.yaml:3:3");  // the legacy key's line
  ExpectError("engine:\n  prefill_precision: f16\n  tf32_prefill: true\n", first);
  std::vector<std::string> second = fragments;
  second.push_back("test.yaml:2:3");
  ExpectError("engine:\n  tf32_prefill: false\n  prefill_precision: f32\n", second);
  // Equal meanings are refused as well: the file is to say it one way.
  ExpectError("engine:\n  tf32_prefill: true\n  prefill_precision: tf32\n", fragments);
}

TEST(ConfigTest, BadExpertValuesAreNamed) {
  absl::StatusOr<DaemonConfig> config = ParseDaemonConfig("experts:\n  mode: turbo\n", "test.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("experts.mode"), absl::string_view::npos) << config.status();
  // An offloading mode needs a cache budget: the cross-key check names the key.
  config = ParseDaemonConfig("experts:\n  mode: ondemand-lru\n", "test.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("gpu_cache_bytes"), absl::string_view::npos) << config.status();
  // A pace of a few bytes per second would hang the first copy for hours.
  config = ParseDaemonConfig("experts:\n  copy_bandwidth: 0.001\n", "test.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("experts.copy_bandwidth"), absl::string_view::npos) << config.status();
  EXPECT_TRUE(ParseDaemonConfig("experts:\n  copy_bandwidth: 0\n", "test.yaml").ok());
  // The engine needs room for one waiting request; the file check says so with the line.
  config = ParseDaemonConfig("scheduler:\n  max_waiting: 0\n", "test.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("scheduler.max_waiting"), absl::string_view::npos) << config.status();
}

}  // namespace
}  // namespace hobbit::server
