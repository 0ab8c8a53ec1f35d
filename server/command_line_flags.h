// CommandLineFlags: hobbitd's command line. Every flag overrides one configuration key.
//
//   hobbitd [--config FILE] [--model GGUF] [--listen HOST:PORT] [--metrics-listen HOST:PORT]
//           [--backend cpu|cuda] [--cpu-threads N] [--log-level LEVEL] [--help] [--version]
//
// Both "--flag value" and "--flag=value" are accepted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace hobbit::server {

struct CommandLineFlags {
  std::optional<std::string> config_path;     // --config
  std::optional<std::string> model_path;      // --model          -> model.path
  std::optional<std::string> listen;          // --listen         -> server.listen
  std::optional<std::string> metrics_listen;  // --metrics-listen -> metrics.listen
  std::optional<std::string> backend;         // --backend        -> engine.backend
  std::optional<std::string> cpu_threads;     // --cpu-threads    -> engine.cpu_threads
  std::optional<std::string> log_level;       // --log-level      -> log.level
  bool help = false;                          // --help, -h
  bool version = false;                       // --version
};

// InvalidArgument naming an unknown flag, a missing value or a repeated flag.
absl::StatusOr<CommandLineFlags> ParseCommandLine(int argc, const char* const* argv);

// The text `hobbitd --help` prints.
std::string CommandLineHelp();

}  // namespace hobbit::server
