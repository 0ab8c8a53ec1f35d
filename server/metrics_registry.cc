#include "server/metrics_registry.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "runtime/engine/engine.h"

namespace hobbit::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;

std::atomic<MetricsRegistry*> g_installed{nullptr};

// Latencies from a millisecond to ten minutes (a long generation on a small board).
const Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
// Per-token latencies: finer at the low end.
const Histogram::BucketBoundaries kTokenLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5};
const Histogram::BucketBoundaries kRatioBuckets = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5,
                                                   0.6,  0.7, 0.8, 0.9, 0.95, 1.0};
// Bytes over the link per token: 1 KiB to 4 GiB in powers of 4.
const Histogram::BucketBoundaries kBytesPerTokenBuckets = {
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0, 268435456.0, 1073741824.0, 4294967296.0};

// The status codes a Generate call ends with are gRPC's fixed set: a bounded label.
const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

int FinishReasonIndex(runtime::FinishReason reason) {
  switch (reason) {
    case runtime::FinishReason::kStop: return 0;
    case runtime::FinishReason::kLength: return 1;
    case runtime::FinishReason::kCancelled: return 2;
    case runtime::FinishReason::kAborted: return 3;
    case runtime::FinishReason::kError: return 4;
  }
  return 4;
}
constexpr int kFinishReasons = 5;
constexpr const char* kFinishReasonLabels[kFinishReasons] = {"stop", "length", "cancelled",
                                                              "aborted", "error"};

// Adds the growth of an engine total since the last scrape (engine totals only grow).
template <typename T>
void Advance(Counter* counter, T now, T* last) {
  if (now > *last) counter->Increment(static_cast<double>(now - *last));
  *last = now;
}

}  // namespace

struct MetricsRegistry::Metrics {
  Metrics(prometheus::Registry& r, absl::string_view version);

  prometheus::Family<Counter>* requests;
  Counter* finish_reasons[kFinishReasons];
  Gauge* running;
  Gauge* waiting;
  Gauge* kv_usage;
  Gauge* cache_used_high;
  Gauge* cache_used_low;
  Gauge* cache_capacity_high;
  Gauge* cache_capacity_low;
  Gauge* kv_blocks;
  Counter* prompt_tokens;
  Counter* generated_tokens;
  Counter* preemptions;
  Histogram* ttft;
  Histogram* inter_token;
  Histogram* duration;
  Histogram* queue;
  Counter* lookups;
  Counter* hits_high;
  Counter* hits_low;
  Counter* low_served_high;
  Counter* misses_host;
  Counter* misses_high;
  Counter* misses_low;
  Counter* misses_skip;
  Counter* graph_recorded;
  Counter* graph_replayed;
  Counter* graph_failed;
  Counter* bytes_demand;
  Counter* bytes_prefetch;
  Counter* prefetch_issued;
  Counter* prefetch_used;
  Counter* prefetch_wasted;
  Counter* prefetch_late;
  Counter* load_wait;
  Histogram* seq_hit_ratio;
  Histogram* seq_low_share;
  Histogram* seq_bytes_per_token;
};

namespace {

Counter* NewCounter(prometheus::Registry& r, const char* name, const char* help) {
  return &BuildCounter().Name(name).Help(help).Register(r).Add({});
}

Gauge* NewGauge(prometheus::Registry& r, const char* name, const char* help) {
  return &BuildGauge().Name(name).Help(help).Register(r).Add({});
}

Histogram* NewHistogram(prometheus::Registry& r, const char* name, const char* help,
                        const Histogram::BucketBoundaries& buckets) {
  return &BuildHistogram().Name(name).Help(help).Register(r).Add({}, buckets);
}

prometheus::Family<Counter>& NewCounterFamily(prometheus::Registry& r, const char* name,
                                              const char* help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}

}  // namespace

MetricsRegistry::Metrics::Metrics(prometheus::Registry& r, absl::string_view version) {
  requests = &NewCounterFamily(r, "hobbit_requests_total",
                               "Generate calls finished, by gRPC status code");
  for (grpc::StatusCode code : {grpc::StatusCode::OK, grpc::StatusCode::CANCELLED,
                                grpc::StatusCode::INVALID_ARGUMENT,
                                grpc::StatusCode::RESOURCE_EXHAUSTED,
                                grpc::StatusCode::UNAVAILABLE}) {
    requests->Add({{"code", StatusCodeName(code)}});
  }
  auto& finished = NewCounterFamily(
      r, "hobbit_requests_finished_total",
      "Requests that reached the engine's final event, by finish reason");
  for (int i = 0; i < kFinishReasons; ++i) {
    finish_reasons[i] = &finished.Add({{"finish_reason", kFinishReasonLabels[i]}});
  }
  running = NewGauge(r, "hobbit_requests_running", "Sequences being prefilled or decoded");
  waiting = NewGauge(r, "hobbit_requests_waiting", "Requests queued for admission");
  kv_usage = NewGauge(r, "hobbit_kv_cache_usage_ratio", "Share of KV-cache blocks in use (0-1)");
  kv_blocks = NewGauge(r, "hobbit_kv_cache_blocks", "KV-cache blocks in the pool");
  auto& cache_used = BuildGauge()
                         .Name("hobbit_expert_cache_used_bytes")
                         .Help("Device bytes holding cached experts, by pool")
                         .Register(r);
  cache_used_high = &cache_used.Add({{"pool", "high"}});
  cache_used_low = &cache_used.Add({{"pool", "low"}});
  auto& cache_capacity = BuildGauge()
                             .Name("hobbit_expert_cache_capacity_bytes")
                             .Help("Device bytes of the expert cache's pools, by pool")
                             .Register(r);
  cache_capacity_high = &cache_capacity.Add({{"pool", "high"}});
  cache_capacity_low = &cache_capacity.Add({{"pool", "low"}});
  prompt_tokens = NewCounter(r, "hobbit_prompt_tokens_total", "Prompt tokens prefilled");
  generated_tokens = NewCounter(r, "hobbit_generated_tokens_total", "Tokens generated");
  preemptions = NewCounter(r, "hobbit_preemptions_total", "Sequences preempted for KV space");
  graph_replayed = NewCounter(r, "hobbit_decode_graph_replays_total",
                              "Decode steps run by replaying a recorded CUDA graph (engine.cuda_graphs)");
  auto& recordings = NewCounterFamily(r, "hobbit_decode_graph_recordings_total",
                                      "CUDA-graph recordings of decode steps (engine.cuda_graphs), by outcome: made, "
                                      "or failed (that step shape then runs directly)");
  graph_recorded = &recordings.Add({{"outcome", "made"}});
  graph_failed = &recordings.Add({{"outcome", "failed"}});
  ttft = NewHistogram(r, "hobbit_time_to_first_token_seconds",
                      "Submit to first generated token", kLatencyBuckets);
  inter_token = NewHistogram(r, "hobbit_inter_token_latency_seconds",
                             "Per request: mean time between generated tokens after the first",
                             kTokenLatencyBuckets);
  duration = NewHistogram(r, "hobbit_request_duration_seconds", "Submit to final event",
                          kLatencyBuckets);
  queue = NewHistogram(r, "hobbit_queue_duration_seconds", "Submit to first scheduled",
                       kLatencyBuckets);
  lookups = NewCounter(r, "hobbit_expert_lookups_total",
                       "Routed (token, expert) pairs looked up in the expert cache");
  auto& hits = NewCounterFamily(r, "hobbit_expert_hits_total",
                                "Lookups served by a resident copy, by the pool that held it");
  hits_high = &hits.Add({{"pool", "high"}});
  hits_low = &hits.Add({{"pool", "low"}});
  low_served_high = NewCounter(
      r, "hobbit_expert_low_served_high_total",
      "Hits on a low-precision copy by lookups whose score asked for high");
  auto& misses = NewCounterFamily(
      r, "hobbit_expert_misses_total",
      "Lookups not resident, by what the loader did: copied high, copied low, skipped");
  misses_high = &misses.Add({{"decision", "high"}});
  misses_low = &misses.Add({{"decision", "low"}});
  misses_skip = &misses.Add({{"decision", "skip"}});
  misses_host = NewCounter(r, "hobbit_expert_misses_host_total",
                           "Misses computed on the CPU from host memory instead of copied (experts.cpu_path; "
                           "a subset of the high and low misses)");
  auto& bytes = NewCounterFamily(r, "hobbit_expert_bytes_loaded_total",
                                 "Expert bytes copied host to device, by reason");
  bytes_demand = &bytes.Add({{"reason", "demand"}});
  bytes_prefetch = &bytes.Add({{"reason", "prefetch"}});
  prefetch_issued = NewCounter(r, "hobbit_prefetch_issued_total", "Expert prefetches issued");
  auto& prefetch = NewCounterFamily(
      r, "hobbit_prefetch_total",
      "Prefetch outcomes: used, wasted (evicted unused), late (used but its copy unfinished; "
      "a subset of used)");
  prefetch_used = &prefetch.Add({{"outcome", "used"}});
  prefetch_wasted = &prefetch.Add({{"outcome", "wasted"}});
  prefetch_late = &prefetch.Add({{"outcome", "late"}});
  load_wait = NewCounter(r, "hobbit_expert_load_wait_seconds_total",
                         "Time layers waited for expert copies");
  seq_hit_ratio = NewHistogram(r, "hobbit_sequence_hit_ratio",
                               "Per finished sequence with lookups: expert-cache hits / lookups",
                               kRatioBuckets);
  seq_low_share = NewHistogram(
      r, "hobbit_sequence_low_precision_share",
      "Per finished sequence with lookups: share of lookups served in low precision",
      kRatioBuckets);
  seq_bytes_per_token = NewHistogram(
      r, "hobbit_sequence_expert_bytes_per_token",
      "Per finished sequence with lookups: expert bytes copied per processed token",
      kBytesPerTokenBuckets);
  BuildGauge().Name("hobbit_build_info").Help("Always 1; the labels name the build").Register(r)
      .Add({{"version", std::string(version)}}).Set(1);
}

// Collect() runs on the exposer's threads: it pulls Engine::GetStats() into the metrics, then
// returns the registry's families.
class MetricsRegistry::EngineCollector : public prometheus::Collectable {
 public:
  EngineCollector(std::shared_ptr<prometheus::Registry> registry, Metrics* metrics)
      : registry_(std::move(registry)), metrics_(metrics) {}

  void Attach(const runtime::Engine* engine) {
    absl::MutexLock lock(&mu_);
    engine_ = engine;
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    Refresh();
    return registry_->Collect();
  }

 private:
  void Refresh() const;

  std::shared_ptr<prometheus::Registry> registry_;
  Metrics* metrics_;
  mutable absl::Mutex mu_;
  const runtime::Engine* engine_ ABSL_GUARDED_BY(mu_) = nullptr;
  mutable runtime::EngineStats last_ ABSL_GUARDED_BY(mu_);
};

void MetricsRegistry::EngineCollector::Refresh() const {
  absl::MutexLock lock(&mu_);
  if (engine_ == nullptr) return;
  runtime::EngineStats s = engine_->GetStats();
  Metrics& m = *metrics_;
  m.running->Set(s.running);
  m.waiting->Set(s.waiting);
  m.kv_blocks->Set(s.kv_blocks_total);
  m.kv_usage->Set(s.kv_blocks_total > 0
                      ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total
                      : 0.0);
  m.cache_used_high->Set(static_cast<double>(s.expert_cache.high_used_bytes));
  m.cache_used_low->Set(static_cast<double>(s.expert_cache.low_used_bytes));
  m.cache_capacity_high->Set(static_cast<double>(s.expert_cache.high_capacity_bytes));
  m.cache_capacity_low->Set(static_cast<double>(s.expert_cache.low_capacity_bytes));
  struct Pair {
    Counter* counter;
    uint64_t now;
    uint64_t* last;
  };
  runtime::EngineStats& l = last_;
  const runtime::SequenceExpertStats& e = s.experts;
  for (const Pair& p : std::initializer_list<Pair>{
           {m.prompt_tokens, s.prompt_tokens_total, &l.prompt_tokens_total},
           {m.generated_tokens, s.generated_tokens_total, &l.generated_tokens_total},
           {m.preemptions, s.preemptions, &l.preemptions},
           {m.graph_recorded, s.recordings.recorded, &l.recordings.recorded},
           {m.graph_replayed, s.recordings.replayed, &l.recordings.replayed},
           {m.graph_failed, s.recordings.failed, &l.recordings.failed},
           {m.lookups, e.lookups, &l.experts.lookups},
           {m.hits_high, e.hits_high, &l.experts.hits_high},
           {m.hits_low, e.hits_low, &l.experts.hits_low},
           {m.low_served_high, e.low_served_high, &l.experts.low_served_high},
           {m.misses_high, e.misses_high, &l.experts.misses_high},
           {m.misses_low, e.misses_low, &l.experts.misses_low},
           {m.misses_skip, e.misses_skip, &l.experts.misses_skip},
           {m.misses_host, e.misses_host, &l.experts.misses_host},
           {m.bytes_demand, e.bytes_demand, &l.experts.bytes_demand},
           {m.bytes_prefetch, e.bytes_prefetch, &l.experts.bytes_prefetch},
           {m.prefetch_issued, e.prefetch_issued, &l.experts.prefetch_issued},
           {m.prefetch_used, e.prefetch_used, &l.experts.prefetch_used},
           {m.prefetch_wasted, e.prefetch_wasted, &l.experts.prefetch_wasted},
           {m.prefetch_late, e.prefetch_late, &l.experts.prefetch_late}}) {
    Advance(p.counter, p.now, p.last);
  }
  Advance(m.load_wait, e.load_wait_seconds, &l.experts.load_wait_seconds);
}

MetricsRegistry::MetricsRegistry(absl::string_view version)
    : registry_(std::make_shared<prometheus::Registry>()),
      metrics_(std::make_unique<Metrics>(*registry_, version)),
      collector_(std::make_shared<EngineCollector>(registry_, metrics_.get())) {}

absl::StatusOr<std::unique_ptr<MetricsRegistry>> MetricsRegistry::Start(
    const MetricsOptions& options, absl::string_view version) {
  std::unique_ptr<MetricsRegistry> metrics(new MetricsRegistry(version));
  try {
    // Two threads: Prometheus and an operator's curl at the same time.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(options.listen, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics.listen: cannot listen on ", options.listen,
                                               ": ", e.what()));
  }
  std::vector<int> ports = metrics->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("metrics.listen: cannot listen on ", options.listen));
  }
  metrics->port_ = ports.front();
  metrics->exposer_->RegisterCollectable(metrics->collector_);
  return metrics;
}

MetricsRegistry::~MetricsRegistry() {
  MetricsRegistry* self = this;
  g_installed.compare_exchange_strong(self, nullptr);
  exposer_.reset();  // no scrape runs past this point
}

void MetricsRegistry::AttachEngine(const runtime::Engine* engine) { collector_->Attach(engine); }

void MetricsRegistry::RecordCall(grpc::StatusCode code) {
  metrics_->requests->Add({{"code", StatusCodeName(code)}}).Increment();
}

void MetricsRegistry::RecordFinal(const runtime::GenerateFinal& final) {
  Metrics& m = *metrics_;
  m.finish_reasons[FinishReasonIndex(final.reason)]->Increment();
  m.queue->Observe(absl::ToDoubleSeconds(final.queue_time));
  m.duration->Observe(absl::ToDoubleSeconds(final.total_time));
  if (final.generated_tokens > 0) m.ttft->Observe(absl::ToDoubleSeconds(final.time_to_first_token));
  if (final.generated_tokens > 1) {
    m.inter_token->Observe(absl::ToDoubleSeconds(final.total_time - final.time_to_first_token) /
                           (final.generated_tokens - 1));
  }
  const runtime::SequenceExpertStats& e = final.expert_stats;
  if (e.lookups > 0) {
    double lookups = static_cast<double>(e.lookups);
    m.seq_hit_ratio->Observe(static_cast<double>(e.hits_high + e.hits_low) / lookups);
    m.seq_low_share->Observe(static_cast<double>(e.hits_low + e.misses_low) / lookups);
  }
  int64_t tokens = int64_t{final.prompt_tokens} + final.generated_tokens;
  if (e.lookups > 0 && tokens > 0) {
    m.seq_bytes_per_token->Observe(static_cast<double>(e.bytes_demand + e.bytes_prefetch) / tokens);
  }
}

void MetricsRegistry::Install(MetricsRegistry* registry) { g_installed.store(registry); }

void MetricsRegistry::ObserveCall(grpc::StatusCode code) {
  if (MetricsRegistry* r = g_installed.load()) r->RecordCall(code);
}

void MetricsRegistry::ObserveFinal(const runtime::GenerateFinal& final) {
  if (MetricsRegistry* r = g_installed.load()) r->RecordFinal(final);
}

}  // namespace hobbit::server
