// The metrics acceptance test: a real hobbitd serving real streams with the expert cache on
// (ondemand-lru, so the expert series carry data), its /metrics scraped directly, then Debian's
// `prometheus` scraping it: every expression of deploy/grafana/hobbit-dashboard.json and every
// recording rule of deploy/prometheus/hobbit-rules.yml must return data through the HTTP API,
// and promtool must accept the shipped configuration and rules.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "tests/integration/daemon_process.h"
#include "tests/support/http_get.h"

namespace hobbit::integration {
namespace {

namespace v1 = ::hobbit::v1;
using test_support::HttpGet;
using test_support::SampleValue;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";
constexpr char kDashboard[] = "deploy/grafana/hobbit-dashboard.json";
constexpr char kPrometheusConfig[] = "deploy/prometheus/prometheus.yml";
constexpr char kRules[] = "deploy/prometheus/hobbit-rules.yml";

// One expert of the fixture is 3 x 64 x 64 f32 = 48 KiB and there are 8 per layer, 2 layers:
// room for about six experts in all makes misses, hits and evictions. The paced copies make the
// load wait measurable on the CPU backend.
constexpr char kOndemandYaml[] =
    "metrics:\n  listen: 127.0.0.1:0\n"
    "experts:\n  mode: ondemand-lru\n  gpu_cache_bytes: 300000\n  copy_bandwidth: 2.0e8\n";
// The hobbit mode also loads low-precision copies and prefetches, so every expert-cache series
// of the dashboard moves. The prefetch throttle is off: on this paced link it would (rightly)
// stop prefetching whenever a layer computes faster than a copy, and the prefetch series would
// depend on the machine's speed.
constexpr char kHobbitYaml[] =
    "metrics:\n  listen: 127.0.0.1:0\n"
    "experts:\n  mode: hobbit\n  gpu_cache_bytes: 300000\n  copy_bandwidth: 2.0e8\n  prefetch_throttle: false\n";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// Every "expr" string of a Grafana dashboard, JSON escapes undone.
std::vector<std::string> DashboardExpressions(const std::string& json) {
  std::vector<std::string> exprs;
  size_t at = 0;
  while ((at = json.find("\"expr\"", at)) != std::string::npos) {
    at = json.find('"', json.find(':', at) + 1) + 1;
    std::string expr;
    for (; at < json.size() && json[at] != '"'; ++at) {
      if (json[at] == '\\' && at + 1 < json.size()) ++at;  // \" and \\ (the only ones used)
      expr += json[at];
    }
    exprs.push_back(expr);
  }
  return exprs;
}

// The names after "record:" in a rules file.
std::vector<std::string> RecordedNames(const std::string& yaml) {
  std::vector<std::string> names;
  std::istringstream lines(yaml);
  std::string line;
  while (std::getline(lines, line)) {
    size_t at = line.find("- record:");
    if (at == std::string::npos) continue;
    std::string name = line.substr(at + 9);
    name.erase(0, name.find_first_not_of(' '));
    names.push_back(name);
  }
  return names;
}

int MetricsPort(DaemonProcess& daemon) {
  std::string log = daemon.process().stderr_text();
  const std::string marker = "metrics on 127.0.0.1:";
  size_t at = log.find(marker);
  return at == std::string::npos ? 0 : std::atoi(log.c_str() + at + marker.size());
}

v1::GenerateRequest TextRequest(const std::string& text, int max_tokens) {
  v1::GenerateRequest request;
  request.set_text(text);
  request.set_max_tokens(max_tokens);
  request.set_temperature(0.0f);
  request.set_ignore_eos(true);
  return request;
}

// Runs `n` greedy streams; returns the tokens they generated.
int RunStreams(DaemonProcess& daemon, int n) {
  const char* prompts[] = {"Hello world", "The quick brown fox", "Once upon a time",
                           "Mixture of experts"};
  int generated = 0;
  for (int i = 0; i < n; ++i) {
    StreamResult result = RunGenerate(daemon.stub(), TextRequest(prompts[i % 4], 12 + i % 5));
    EXPECT_TRUE(result.status.ok()) << result.status.error_message();
    if (result.final) generated += result.final->generated_tokens();
  }
  return generated;
}

#define SKIP_WITHOUT_MODEL()              \
  if (!std::filesystem::exists(kTestModel)) \
  GTEST_SKIP() << kTestModel << " is missing: run tests/fixtures/hf_tiny/make_hf_tiny.py"

TEST(MetricsTest, ExposesRequestTokenAndExpertFigures) {
  SKIP_WITHOUT_MODEL();
  auto daemon = DaemonProcess::Start(kOndemandYaml);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  int port = MetricsPort(**daemon);
  ASSERT_GT(port, 0) << (*daemon)->process().stderr_text();

  int generated = RunStreams(**daemon, 4);
  v1::GenerateRequest bad = TextRequest("Hello", 0);  // max_tokens 0: INVALID_ARGUMENT
  EXPECT_EQ(RunGenerate((*daemon)->stub(), bad).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE((*daemon)->WaitIdle(absl::Seconds(10)));

  absl::StatusOr<std::string> text = HttpGet(port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  for (const char* name :
       {"hobbit_requests_running", "hobbit_requests_waiting", "hobbit_kv_cache_usage_ratio",
        "hobbit_time_to_first_token_seconds_bucket", "hobbit_inter_token_latency_seconds_bucket",
        "hobbit_request_duration_seconds_bucket", "hobbit_queue_duration_seconds_bucket",
        "hobbit_sequence_hit_ratio_bucket", "hobbit_sequence_low_precision_share_bucket",
        "hobbit_expert_load_wait_seconds_total", "hobbit_prefetch_total{outcome=\"wasted\"}",
        "hobbit_build_info{version="}) {
    EXPECT_NE(text->find(name), std::string::npos) << name << " missing from\n" << *text;
  }
  EXPECT_EQ(SampleValue(*text, "hobbit_requests_total{code=\"OK\"}"), 4);
  EXPECT_EQ(SampleValue(*text, "hobbit_requests_total{code=\"INVALID_ARGUMENT\"}"), 1);
  EXPECT_EQ(SampleValue(*text, "hobbit_requests_finished_total{finish_reason=\"length\"}"), 4);
  EXPECT_EQ(SampleValue(*text, "hobbit_generated_tokens_total"), generated);
  EXPECT_GT(SampleValue(*text, "hobbit_prompt_tokens_total"), 0);
  EXPECT_EQ(SampleValue(*text, "hobbit_time_to_first_token_seconds_count"), 4);
  EXPECT_EQ(SampleValue(*text, "hobbit_request_duration_seconds_count"), 4);
  EXPECT_EQ(SampleValue(*text, "hobbit_requests_running"), 0);
  EXPECT_EQ(SampleValue(*text, "hobbit_kv_cache_usage_ratio"), 0);

  // The expert cache: lookups split exactly into hits and misses; a small cache misses and
  // ondemand-lru loads every miss in high precision, on demand.
  double lookups = SampleValue(*text, "hobbit_expert_lookups_total");
  double hits = SampleValue(*text, "hobbit_expert_hits_total{pool=\"high\"}") +
                SampleValue(*text, "hobbit_expert_hits_total{pool=\"low\"}");
  double misses_high = SampleValue(*text, "hobbit_expert_misses_total{decision=\"high\"}");
  double misses = misses_high + SampleValue(*text, "hobbit_expert_misses_total{decision=\"low\"}") +
                  SampleValue(*text, "hobbit_expert_misses_total{decision=\"skip\"}");
  EXPECT_GT(lookups, 0);
  EXPECT_GT(misses_high, 0);
  EXPECT_EQ(hits + misses, lookups);
  EXPECT_EQ(SampleValue(*text, "hobbit_expert_misses_host_total"), 0);  // experts.cpu_path is off
  // The CPU backend records no decode steps (engine.cuda_graphs is a CUDA setting).
  EXPECT_EQ(SampleValue(*text, "hobbit_decode_graph_replays_total"), 0);
  EXPECT_EQ(SampleValue(*text, "hobbit_decode_graph_recordings_total{outcome=\"made\"}"), 0);
  EXPECT_EQ(SampleValue(*text, "hobbit_decode_graph_recordings_total{outcome=\"failed\"}"), 0);
  EXPECT_GT(SampleValue(*text, "hobbit_expert_bytes_loaded_total{reason=\"demand\"}"), 0);
  EXPECT_GT(SampleValue(*text, "hobbit_expert_load_wait_seconds_total"), 0);
  EXPECT_EQ(SampleValue(*text, "hobbit_sequence_hit_ratio_count"), 4);
  EXPECT_EQ(SampleValue(*text, "hobbit_sequence_low_precision_share_sum"), 0);
  // Occupancy: the high pool holds experts, never more than its capacity; ondemand-lru has no
  // low pool.
  const double used_high = SampleValue(*text, "hobbit_expert_cache_used_bytes{pool=\"high\"}");
  const double capacity_high = SampleValue(*text, "hobbit_expert_cache_capacity_bytes{pool=\"high\"}");
  EXPECT_GT(used_high, 0);
  EXPECT_LE(used_high, capacity_high);
  EXPECT_EQ(SampleValue(*text, "hobbit_expert_cache_capacity_bytes{pool=\"low\"}"), 0);
}

TEST(MetricsTest, BusyMetricsAddressIsAStartUpErrorNamingIt) {
  SKIP_WITHOUT_MODEL();
  int busy = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  ASSERT_EQ(getsockname(busy, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::string listen = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  std::string config =
      absl::StrCat(::testing::TempDir(), "hobbit_metrics_busy_", getpid(), ".yaml");
  std::ofstream(config) << "model:\n  path: " << kTestModel << "\nmetrics:\n  listen: " << listen
                        << "\n";
  auto process = Subprocess::Start(
      {BuildBinary("hobbitd"), "--config", config, "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(30));
  close(busy);
  unlink(config.c_str());
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1);
  std::string error = absl::StrCat("metrics.listen: cannot listen on ", listen);
  EXPECT_NE((*process)->stderr_text().find(error), std::string::npos)
      << (*process)->stderr_text();
}

// Starts `prometheus` on a free loopback port scraping `target_port` every second, with the
// shipped recording rules; waits until the API answers.
absl::StatusOr<std::unique_ptr<Subprocess>> StartPrometheus(const std::string& dir,
                                                             int target_port, int* api_port) {
  std::string config = absl::StrCat(dir, "/prometheus.yml");
  std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        << "rule_files:\n  - " << std::filesystem::absolute(kRules).string()
                        << "\nscrape_configs:\n  - job_name: hobbitd\n    static_configs:\n"
                        << "      - targets: ['127.0.0.1:" << target_port << "']\n";
  *api_port = FreePort();
  auto process = Subprocess::Start(
      {kPrometheus, absl::StrCat("--config.file=", config),
       absl::StrCat("--storage.tsdb.path=", dir, "/data"),
       absl::StrCat("--web.listen-address=127.0.0.1:", *api_port)});
  if (!process.ok()) return process.status();
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!HttpGet(*api_port, "/-/ready").ok()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("prometheus never became ready:\n", (*process)->stderr_text()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return process;
}

// The query's JSON answer; data means a non-empty result.
std::string Query(int api_port, const std::string& expr) {
  absl::StatusOr<std::string> body =
      HttpGet(api_port, absl::StrCat("/api/v1/query?query=", UrlEncode(expr)));
  return body.ok() ? *body : body.status().ToString();
}

bool HasData(const std::string& answer) {
  return answer.find("\"status\":\"success\"") != std::string::npos &&
         answer.find("\"result\":[]") == std::string::npos &&
         answer.find("\"result\":[") != std::string::npos;
}

bool WaitForData(int api_port, const std::string& expr, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!HasData(Query(api_port, expr))) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(250));
  }
  return true;
}

TEST(MetricsTest, PromtoolAcceptsConfigAndRules) {
  if (!std::filesystem::exists(kPromtool)) {
    GTEST_SKIP() << kPromtool << " is missing: install Debian's prometheus (install-deps.sh)";
  }
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{kPromtool, "check", "config", kPrometheusConfig},
        std::vector<std::string>{kPromtool, "check", "rules", kRules}}) {
    auto process = Subprocess::Start(argv);
    ASSERT_TRUE(process.ok()) << process.status();
    absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(60));
    EXPECT_TRUE(code.ok() && *code == 0) << argv[2] << ":\n" << (*process)->stdout_text()
                                         << (*process)->stderr_text();
  }
}

TEST(MetricsTest, EveryDashboardExpressionReturnsDataThroughPrometheus) {
  SKIP_WITHOUT_MODEL();
  if (!std::filesystem::exists(kPrometheus)) {
    GTEST_SKIP() << kPrometheus << " is missing: install Debian's prometheus (install-deps.sh)";
  }
  std::vector<std::string> exprs = DashboardExpressions(ReadFile(kDashboard));
  std::vector<std::string> recorded = RecordedNames(ReadFile(kRules));
  ASSERT_GE(exprs.size(), 20u) << kDashboard;
  ASSERT_GE(recorded.size(), 3u) << kRules;

  auto daemon = DaemonProcess::Start(kHobbitYaml);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  int port = MetricsPort(**daemon);
  ASSERT_GT(port, 0);
  std::string dir = absl::StrCat(::testing::TempDir(), "hobbit_prometheus_", getpid());
  std::filesystem::create_directories(dir);
  int api_port = 0;
  auto prometheus = StartPrometheus(dir, port, &api_port);
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  // A few scrapes before the traffic, so every counter has a sample to grow from, then streams,
  // then a few scrapes after.
  ASSERT_TRUE(WaitForData(api_port, "count_over_time(hobbit_build_info[1m]) >= 3",
                          absl::Seconds(30)))
      << (*prometheus)->stderr_text();
  RunStreams(**daemon, 6);
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(WaitForData(api_port, "hobbit:expert_hit_ratio:rate5m", absl::Seconds(30)));

  for (const std::string& dashboard_expr : exprs) {
    // Grafana's $__rate_interval is at least four scrape intervals; 30s covers them here.
    std::string expr = absl::StrReplaceAll(dashboard_expr, {{"$__rate_interval", "30s"}});
    std::string answer = Query(api_port, expr);
    EXPECT_TRUE(HasData(answer)) << expr << "\n" << answer;
  }
  for (const std::string& name : recorded) {
    std::string answer = Query(api_port, name);
    EXPECT_TRUE(HasData(answer)) << name << "\n" << answer;
  }
  // Real numbers, not NaN: the streams made lookups, low-precision loads and prefetches in the
  // window (NaN >= 0 is false, so a NaN answer is empty).
  for (const char* expr : {"hobbit:expert_hit_ratio:rate5m >= 0",
                           "hobbit:expert_hit_ratio_by_pool:rate5m{pool=\"low\"} > 0",
                           "hobbit:prefetch_used_ratio:rate5m >= 0",
                           "rate(hobbit_expert_misses_total{decision=\"low\"}[1m]) > 0"}) {
    std::string answer = Query(api_port, expr);
    EXPECT_TRUE(HasData(answer)) << expr << "\n" << answer;
  }

  (*prometheus)->Signal(SIGTERM);
  (void)(*prometheus)->Wait(absl::Seconds(30));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hobbit::integration
