// The `hobbit` command-line client against a real hobbitd.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/integration/daemon_process.h"

namespace hobbit::integration {
namespace {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

CliRun RunCli(std::vector<std::string> args, const std::string* stdin_text = nullptr) {
  args.insert(args.begin(), BuildBinary("hobbit"));
  auto process = Subprocess::Start(args, stdin_text);
  EXPECT_TRUE(process.ok()) << process.status();
  CliRun run;
  if (!process.ok()) return run;
  absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(60));
  run.code = code.ok() ? *code : -1;
  run.out = (*process)->stdout_text();
  run.err = (*process)->stderr_text();
  return run;
}

TEST(CliTest, WrongFlagIsAUsageError) {
  CliRun run = RunCli({"generate", "--prompt", "x", "--max-tokenz", "3"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "unknown flag '--max-tokenz'")) << run.err;
  run = RunCli({"generate"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "needs --prompt")) << run.err;
  run = RunCli({"info", "--seed", "3"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "--seed does not apply")) << run.err;
  run = RunCli({"generate", "--prompt", "x", "--temperature", "warm"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "--temperature: expected a number")) << run.err;
  run = RunCli({"generate", "--prompt", "x", "--precision", "fastest"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "--precision: expected quality, balanced or speed")) << run.err;
  run = RunCli({"generate", "--prompt", "x", "--timeout", "inf"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "--timeout: expected seconds in (0, 1e9]")) << run.err;
  // gRPC would abort on a tab in the metadata: the client refuses the token first.
  const std::string token_file = ::testing::TempDir() + "/hobbit_cli_bad_token";
  {
    std::ofstream(token_file) << "ab\tcd\n";
  }
  run = RunCli({"info", "--server", "127.0.0.1:1", "--token-file", token_file});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "--token-file: the token may hold only printable ASCII")) << run.err;
  run = RunCli({"fly"});
  EXPECT_EQ(run.code, 2);
  EXPECT_TRUE(absl::StrContains(run.err, "unknown command 'fly'")) << run.err;
}

TEST(CliTest, UnreachableServerIsReported) {
  CliRun run = RunCli({"info", "--server", "127.0.0.1:1"});
  EXPECT_EQ(run.code, 1);
  EXPECT_TRUE(absl::StrContains(run.err, "server 127.0.0.1:1 is unavailable")) << run.err;
}

TEST(CliTest, GenerateInfoStatsTokenizeAndChat) {
  if (!std::filesystem::exists(kTestModel)) GTEST_SKIP() << kTestModel << " is missing";
  auto daemon = DaemonProcess::Start();
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string server = (*daemon)->address();

  CliRun run = RunCli({"generate", "--server", server, "--prompt", "Hello", "--max-tokens", "8",
                       "--temperature", "0", "--ignore-eos"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_FALSE(run.out.empty());
  EXPECT_TRUE(absl::StrContains(run.err, "finish=length")) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "generated_tokens=8")) << run.err;

  run = RunCli({"info", "--server", server});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "architecture: \"llama\"")) << run.out;

  run = RunCli({"stats", "--server", server});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(absl::StrContains(run.out, "kv_blocks_total")) << run.out;

  run = RunCli({"tokenize", "--server", server, "--text", "Hello world"});
  EXPECT_EQ(run.code, 0) << run.err;
  EXPECT_FALSE(run.out.empty());

  std::string conversation = "Hi\nHow are you\n";
  run = RunCli({"chat", "--server", server, "--max-tokens", "4", "--seed", "1"}, &conversation);
  EXPECT_EQ(run.code, 0) << run.err;
  // Two turns answered, each with its statistics line.
  size_t first = run.err.find("finish=");
  ASSERT_NE(first, std::string::npos) << run.err;
  EXPECT_NE(run.err.find("finish=", first + 1), std::string::npos) << run.err;

  run = RunCli({"generate", "--server", server, "--prompt", "x", "--top-p", "0"});
  EXPECT_EQ(run.code, 1);
  EXPECT_TRUE(absl::StrContains(run.err, "top_p: 0 is out of range")) << run.err;
}

// With experts offloaded, the final statistics line carries the sequence's expert counters, and
// --precision reaches the loader: quality never loads a low copy nor skips, speed does.
TEST(CliTest, GenerateReportsExpertCountersPerPrecisionPolicy) {
  if (!std::filesystem::exists(kTestModel)) GTEST_SKIP() << kTestModel << " is missing";
  auto daemon = DaemonProcess::Start("experts:\n  mode: hobbit\n  gpu_cache_bytes: 300000\n");
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string server = (*daemon)->address();
  auto counter = [](const std::string& err, const std::string& name) {
    const size_t at = err.find(" " + name + "=");
    return at == std::string::npos ? -1 : std::stoll(err.substr(at + name.size() + 2));
  };
  CliRun quality = RunCli({"generate", "--server", server, "--prompt", "def main(", "--max-tokens", "16",
                           "--temperature", "0", "--ignore-eos", "--precision", "quality"});
  ASSERT_EQ(quality.code, 0) << quality.err;
  ASSERT_TRUE(absl::StrContains(quality.err, "[experts: lookups=")) << quality.err;
  EXPECT_GT(counter(quality.err, "lookups"), 0) << quality.err;
  EXPECT_EQ(counter(quality.err, "misses_low"), 0) << quality.err;
  EXPECT_EQ(counter(quality.err, "misses_skip"), 0) << quality.err;
  CliRun speed = RunCli({"generate", "--server", server, "--prompt", "def main(", "--max-tokens", "16",
                         "--temperature", "0", "--ignore-eos", "--precision", "speed"});
  ASSERT_EQ(speed.code, 0) << speed.err;
  EXPECT_GT(counter(speed.err, "misses_low") + counter(speed.err, "misses_skip") + counter(speed.err, "hits_low"), 0)
      << speed.err;
}

// The CPU path end to end: on a slow (paced) link hobbitd computes misses on the CPU, and the
// final line counts them.
TEST(CliTest, CpuPathMissesAreReported) {
  if (!std::filesystem::exists(kTestModel)) GTEST_SKIP() << kTestModel << " is missing";
  auto daemon = DaemonProcess::Start(
      "experts:\n  mode: hobbit\n  gpu_cache_bytes: 300000\n  copy_bandwidth: 2.0e7\n  cpu_path: true\n"
      "  cpu_path_threads: 1\n");
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  CliRun run = RunCli({"generate", "--server", (*daemon)->address(), "--prompt", "def main(", "--max-tokens", "12",
                       "--temperature", "0", "--ignore-eos"});
  ASSERT_EQ(run.code, 0) << run.err;
  const size_t at = run.err.find(" misses_host=");
  ASSERT_NE(at, std::string::npos) << run.err;
  EXPECT_GT(std::stoll(run.err.substr(at + 13)), 0) << run.err;
}

}  // namespace
}  // namespace hobbit::integration
