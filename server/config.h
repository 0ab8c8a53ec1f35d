// DaemonConfig: hobbitd's whole configuration, read once at start-up from YAML
// (config/hobbitd.yaml documents every key) and overridden by command-line flags.
//
//   HOBBIT_ASSIGN_OR_RETURN(CommandLineFlags flags, ParseCommandLine(argc, argv));
//   HOBBIT_ASSIGN_OR_RETURN(DaemonConfig config, LoadDaemonConfig(flags));
//   Engine::Create(config.engine) ... GrpcServer::Start(config.server, ...)
//
// The defaults are those of the option structs (EngineOptions, GrpcServerOptions, ...); this
// file only adds kDefaultModelPath. Unknown keys, duplicate keys, wrong types and values out of
// range are errors naming the file, line, column and dotted key.
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "runtime/engine/engine_options.h"
#include "server/command_line_flags.h"
#include "server/grpc_server.h"
#include "server/log_level.h"

namespace hobbit::server {

// The model served when neither the file nor --model names one: the built-in demo model,
// installed beside the binary as ../share/hobbit/models/hobbit-demo-q8_0.gguf (the build tree
// has the same layout). Resolved by ResolveModelPath at start-up.
inline constexpr absl::string_view kDefaultModelPath = "";
inline constexpr absl::string_view kBuiltInModelRelativePath = "../share/hobbit/models/hobbit-demo-q8_0.gguf";

// The model file to open: `configured` if set, else the built-in model next to the running
// executable (found through /proc/self/exe). NotFound names the path and the key to set.
absl::StatusOr<std::string> ResolveModelPath(const std::string& configured);

// The Prometheus exposer (server/metrics_registry.h): /metrics on this address.
struct MetricsOptions {
  // host:port of the /metrics endpoint; loopback unless an operator opens it.
  std::string listen = "127.0.0.1:9464";
};

struct DaemonConfig {
  DaemonConfig() { engine.model_path = std::string(kDefaultModelPath); }

  runtime::EngineOptions engine;
  GrpcServerOptions server;
  MetricsOptions metrics;
  LogLevel log_level = LogLevel::kInfo;
};

// Parses YAML text; `source` names it in errors (a file path). An empty document gives the
// defaults.
absl::StatusOr<DaemonConfig> ParseDaemonConfig(absl::string_view yaml_text, absl::string_view source);

// Reads and parses a file; a missing or unreadable file is an error naming the path.
absl::StatusOr<DaemonConfig> LoadDaemonConfigFile(const std::string& path);

// The configuration hobbitd runs with: the defaults, then the file from --config (if any), then
// the other flags. Flag values are checked like the keys they override.
absl::StatusOr<DaemonConfig> LoadDaemonConfig(const CommandLineFlags& flags);

}  // namespace hobbit::server
