#include "server/command_line_flags.h"

#include <array>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hobbit::server {
namespace {

struct ValueFlag {
  absl::string_view name;
  std::optional<std::string> CommandLineFlags::*field;
};

constexpr std::array<ValueFlag, 7> kValueFlags = {{
    {"--config", &CommandLineFlags::config_path},
    {"--model", &CommandLineFlags::model_path},
    {"--listen", &CommandLineFlags::listen},
    {"--metrics-listen", &CommandLineFlags::metrics_listen},
    {"--backend", &CommandLineFlags::backend},
    {"--cpu-threads", &CommandLineFlags::cpu_threads},
    {"--log-level", &CommandLineFlags::log_level},
}};

}  // namespace

absl::StatusOr<CommandLineFlags> ParseCommandLine(int argc, const char* const* argv) {
  CommandLineFlags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
      continue;
    }
    if (arg == "--version") {
      flags.version = true;
      continue;
    }
    absl::string_view name = arg;
    std::optional<absl::string_view> inline_value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const ValueFlag* flag = nullptr;
    for (const ValueFlag& candidate : kValueFlags) {
      if (candidate.name == name) flag = &candidate;
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown argument '", arg, "' (see hobbitd --help)"));
    }
    std::string value;
    if (inline_value) {
      value = std::string(*inline_value);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
    }
    if ((flags.*(flag->field)).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is given twice"));
    }
    flags.*(flag->field) = std::move(value);
  }
  return flags;
}

std::string CommandLineHelp() {
  return R"(Usage: hobbitd [flags]

Serves a Mixture-of-Experts GGUF model over gRPC (hobbit.v1.Hobbit, grpc.health.v1, reflection).
Settings come from the defaults, then the --config file, then the flags below.

  --config FILE              YAML configuration (see config/hobbitd.yaml for every key)
  --model GGUF               model file to serve                       (model.path)
  --listen HOST:PORT         gRPC address; port 0 picks a free port    (server.listen)
  --metrics-listen HOST:PORT Prometheus /metrics address               (metrics.listen)
  --backend cpu|cuda|auto    compute backend; auto = cuda if a GPU is present (engine.backend)
  --cpu-threads N            CPU threads for the kernels; 0 = all      (engine.cpu_threads)
  --log-level LEVEL          debug, info, warning or error             (log.level)
  --version                  print the version and exit
  -h, --help                 print this help and exit

Signals: SIGTERM/SIGINT drain (stop admitting, let streams finish within
server.drain_timeout_seconds, abort the rest) and exit 0.
)";
}

}  // namespace hobbit::server
