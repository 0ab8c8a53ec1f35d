// hobbitd: serves a Mixture-of-Experts GGUF model over gRPC. See `hobbitd --help` and
// config/hobbitd.yaml.
#include <cstdio>
#include <string>

#include "server/build_info.h"
#include "server/command_line_flags.h"
#include "server/config.h"
#include "server/daemon.h"
#include "server/logger.h"

int main(int argc, char** argv) {
  using namespace hobbit::server;
  // Before any thread exists, so that every thread inherits the mask and sigwait sees them.
  sigset_t signals = Daemon::BlockTerminationSignals();

  absl::StatusOr<CommandLineFlags> flags = ParseCommandLine(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "hobbitd: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(CommandLineHelp().c_str(), stdout);
    return 0;
  }
  if (flags->version) {
    std::printf("hobbitd %s\n", std::string(ServerVersion()).c_str());
    return 0;
  }
  absl::StatusOr<DaemonConfig> config = LoadDaemonConfig(*flags);
  if (!config.ok()) {
    std::fprintf(stderr, "hobbitd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  Logger::SetLevel(config->log_level);
  return Daemon(*config).Run(signals);
}
