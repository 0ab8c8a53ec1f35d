// Daemon: hobbitd's lifecycle, from a parsed configuration to exit.
//
//   start gRPC (health NOT_SERVING, Generate UNAVAILABLE) -> load and warm the engine
//   (STATUS= lines) -> SERVING, READY=1 -> wait for SIGTERM/SIGINT -> STOPPING=1, NOT_SERVING,
//   Generate UNAVAILABLE, engine drain (in-flight streams finish until
//   server.drain_timeout_seconds, the rest end with FINISH_REASON_ABORTED) -> gRPC shutdown.
#pragma once

#include <csignal>

#include "server/config.h"

namespace hobbit::server {

// Used from main's thread only.
class Daemon {
 public:
  explicit Daemon(const DaemonConfig& config) : config_(config) {}

  // Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it starts later),
  // so Run can wait for them with sigwait. Call first thing in main.
  static sigset_t BlockTerminationSignals();

  // Serves until one of `signals` arrives; returns the process exit code (0 after a clean
  // drain, 1 when start-up fails, with the reason logged).
  int Run(const sigset_t& signals);

 private:
  DaemonConfig config_;  // model.path is resolved in Run()
};

}  // namespace hobbit::server
