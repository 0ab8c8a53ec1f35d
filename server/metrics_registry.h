// MetricsRegistry: hobbitd's Prometheus metrics (serving.md, "Prometheus metrics") and the
// exposer that serves them at http://<metrics.listen>/metrics.
//
//   HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<MetricsRegistry> metrics,
//                           MetricsRegistry::Start(config.metrics, ServerVersion()));
//   metrics->AttachEngine(engine);        // engine gauges and counters, read at every scrape
//   MetricsRegistry::Install(metrics.get());  // the handlers' process-wide instance
//   ... GenerateHandler: MetricsRegistry::ObserveFinal(final); MetricsRegistry::ObserveCall(code);
//   metrics->AttachEngine(nullptr);       // before the engine is destroyed
//
// Engine-wide figures (running/waiting, KV usage, token and expert-cache counters) come from
// Engine::GetStats() when Prometheus scrapes, so they are exact at scrape time. Per-request
// figures (latency histograms, finish reasons, per-sequence expert histograms) are observed from
// each request's final event; hobbit_requests_total{code} counts every Generate call by the
// gRPC status it ended with. Every label has a fixed, small set of values, all created at start
// so each series exists (at zero) from the first scrape.
#pragma once

#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/engine/generate_types.h"
#include "server/config.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace hobbit::runtime {
class Engine;
}  // namespace hobbit::runtime

namespace hobbit::server {

// Thread-safe: the observe methods are called from gRPC and engine threads, the scrape runs on
// the exposer's threads. Owned by the daemon; it must outlive the gRPC server (handlers observe
// into it) and be detached from the engine before the engine is destroyed.
class MetricsRegistry {
 public:
  // Builds every metric and starts the exposer on `options.listen` ("host:port", port 0 picks a
  // free one). A failure to bind is an error naming the address.
  static absl::StatusOr<std::unique_ptr<MetricsRegistry>> Start(const MetricsOptions& options,
                                                                absl::string_view version);
  // Stops the exposer; uninstalls this instance if it is the installed one.
  ~MetricsRegistry();

  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The port the exposer listens on (the chosen one when the configured port was 0).
  int port() const { return port_; }

  // The engine whose GetStats() feeds the engine-wide metrics at each scrape; nullptr detaches
  // it (the gauges then keep their last values). The engine must outlive the attachment.
  void AttachEngine(const runtime::Engine* engine);

  // Counts one finished Generate call by its gRPC status code.
  void RecordCall(grpc::StatusCode code);
  // Observes a request's final event: latencies, finish reason, per-sequence expert figures.
  void RecordFinal(const runtime::GenerateFinal& final);

  // The process-wide instance the request handlers report to (nullptr: none, observations are
  // dropped). The daemon installs it once at start.
  static void Install(MetricsRegistry* registry);
  static void ObserveCall(grpc::StatusCode code);
  static void ObserveFinal(const runtime::GenerateFinal& final);

 private:
  struct Metrics;          // the metric objects (pointers into registry_)
  class EngineCollector;   // refreshes the engine figures, then collects registry_

  explicit MetricsRegistry(absl::string_view version);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<EngineCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace hobbit::server
