#include "server/daemon.h"

#include <google/protobuf/stubs/logging.h>
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "runtime/engine/engine.h"
#include "server/build_info.h"
#include "server/engine_prompt_encoder.h"
#include "server/grpc_server.h"
#include "server/logger.h"
#include "server/metrics_registry.h"
#include "server/serving_state.h"
#include "server/systemd_notifier.h"

namespace hobbit::server {
namespace {

// Protobuf logs when a client sends a string field with invalid UTF-8; the client already gets
// INVALID_ARGUMENT naming the field, so only a fatal protobuf message is worth an error line.
void RouteProtobufLogs(google::protobuf::LogLevel level, const char* file, int line,
                       const std::string& message) {
  Logger::Log(level == google::protobuf::LOGLEVEL_FATAL ? LogLevel::kError : LogLevel::kDebug,
              absl::StrCat("protobuf ", file, ":", line, ": ", message));
}

absl::StatusOr<std::unique_ptr<ServingContext>> MakeServingContext(
    runtime::Engine* engine, const runtime::EngineOptions& options) {
  auto context = std::make_unique<ServingContext>();
  context->engine = engine;
  context->options = options;
  // GetModelInfo reports the backend in use, not the configured "auto".
  if (std::string name = engine->backend_name(); !name.empty()) context->options.backend = name;
  context->limits = MakeRequestLimits(options, engine->model_config());
  absl::StatusOr<std::unique_ptr<EnginePromptEncoder>> encoder = EnginePromptEncoder::Create(*engine);
  if (!encoder.ok()) return encoder.status();
  context->has_chat_template = (*encoder)->has_chat_template();
  context->encoder = std::move(*encoder);
  return context;
}

}  // namespace

sigset_t Daemon::BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

namespace {

absl::StatusOr<std::unique_ptr<runtime::Engine>> LoadEngine(const runtime::EngineOptions& options,
                                                            SystemdNotifier* notifier) {
  notifier->Status(absl::StrCat("loading ", options.model_path));
  Logger::Info(absl::StrCat("loading model ", options.model_path, " on ", options.backend));
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<runtime::Engine>> engine =
      runtime::Engine::Create(options, [notifier](std::string_view progress) {
        absl::string_view text(progress.data(), progress.size());
        notifier->Status(text);
        // Loading reports problems it works around (pageable memory, an unwritable cache) as
        // "warning: ..." lines; they must show at log.level warning.
        if (absl::StartsWith(text, "warning: ")) {
          Logger::Warning(text.substr(9));
        } else {
          Logger::Info(text);
        }
      });
  if (!engine.ok()) {
    return absl::Status(engine.status().code(),
                        absl::StrCat("cannot load the model: ", engine.status().message()));
  }
  (*engine)->SetHeartbeat([notifier] { notifier->Heartbeat(); });
  Logger::Info(absl::StrFormat("model loaded and warm in %.3fs",
                               absl::ToDoubleSeconds(absl::Now() - start)));
  return engine;
}

// Refuses new work first, so that once the log says "draining" no new stream is admitted; then
// lets the engine finish or abort what runs, and closes the server once every stream has had
// its final message.
void DrainAndStop(int signal, const GrpcServerOptions& options, ServingState* state,
                  GrpcServer* server, runtime::Engine* engine, SystemdNotifier* notifier) {
  state->BeginDrain();
  server->SetServing(false);
  notifier->Stopping();
  Logger::Info(absl::StrFormat("received %s, draining (up to %.1fs)",
                               signal == SIGTERM ? "SIGTERM" : "SIGINT",
                               options.drain_timeout_seconds));
  engine->Drain(absl::Now() + absl::Seconds(options.drain_timeout_seconds));
  Logger::Info("engine drained; closing the gRPC server");
  // Every stream has its final event now; the grace only lets the last writes reach the
  // clients. It is also how long an idle client connection can hold the shutdown up (an idle
  // C++ channel notices the GOAWAY only at its next poll), so it stays short.
  server->Shutdown(absl::Now() + absl::Seconds(1));
  Logger::Info("gRPC server closed");
}

// The one thread that takes SIGTERM/SIGINT (blocked everywhere else), from before the model loads:
// a signal while loading stops the process at once (loading cannot be interrupted and nothing is
// being served yet); a signal once serving is handed to the main thread, which drains.
class SignalWatcher {
 public:
  explicit SignalWatcher(const sigset_t& signals) {
    auto shared = state_;
    std::thread([shared, signals] {
      int signal = 0;
      sigwait(&signals, &signal);
      if (shared->loading.load()) {
        Logger::Info(absl::StrCat("received ", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                                  " while loading the model; stopping without serving"));
        SystemdNotifier().Stopping();
        std::_Exit(0);
      }
      shared->signal.store(signal);
      shared->received.Notify();
    }).detach();
  }

  // From now on a signal drains instead of stopping at once.
  void Serving() { state_->loading.store(false); }
  // Blocks until a signal; returns it.
  int Wait() {
    state_->received.WaitForNotification();
    return state_->signal.load();
  }

 private:
  // Shared with the detached thread, which may outlive Run's frame on an error return.
  struct State {
    std::atomic<bool> loading{true};
    std::atomic<int> signal{0};
    absl::Notification received;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace

int Daemon::Run(const sigset_t& signals) {
  SystemdNotifier notifier;
  google::protobuf::SetLogHandler(&RouteProtobufLogs);
  // A missing model is the most common start-up mistake: the error says which path and key.
  absl::StatusOr<std::string> model_path = ResolveModelPath(config_.engine.model_path);
  if (!model_path.ok()) {
    Logger::Error(model_path.status().message());
    return 1;
  }
  config_.engine.model_path = *model_path;
  // Metrics first: it outlives the gRPC server, whose handlers report to it.
  absl::StatusOr<std::unique_ptr<MetricsRegistry>> metrics =
      MetricsRegistry::Start(config_.metrics, ServerVersion());
  if (!metrics.ok()) {
    Logger::Error(metrics.status().message());
    return 1;
  }
  MetricsRegistry::Install(metrics->get());
  Logger::Info(absl::StrCat("metrics on ",
                            config_.metrics.listen.substr(0, config_.metrics.listen.rfind(':')),
                            ":", (*metrics)->port(), "/metrics"));
  ServingState state;
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(config_.server, &state);
  if (!server.ok()) {
    Logger::Error(server.status().message());
    return 1;
  }
  std::string host = config_.server.listen.substr(0, config_.server.listen.rfind(':'));
  Logger::Info(absl::StrCat("listening on ", host, ":", (*server)->port()));
  Logger::Info(absl::StrCat("gRPC security: ", (*server)->security()));

  SignalWatcher watcher(signals);
  absl::StatusOr<std::unique_ptr<runtime::Engine>> engine = LoadEngine(config_.engine, &notifier);
  if (!engine.ok()) {
    Logger::Error(engine.status().ToString());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<ServingContext>> context =
      MakeServingContext(engine->get(), config_.engine);
  if (!context.ok()) {
    Logger::Error(absl::StrCat("cannot serve the model: ", context.status().ToString()));
    return 1;
  }
  state.Publish(std::move(*context));
  (*metrics)->AttachEngine(engine->get());
  watcher.Serving();
  (*server)->SetServing(true);
  notifier.Ready();
  Logger::Info("serving");

  const int signal = watcher.Wait();
  DrainAndStop(signal, config_.server, &state, server->get(), engine->get(), &notifier);
  (*metrics)->AttachEngine(nullptr);
  engine->reset();
  Logger::Info("stopped");
  return 0;
}

}  // namespace hobbit::server
