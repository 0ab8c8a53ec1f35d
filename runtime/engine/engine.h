// Engine: the runtime's one facade. The daemon keeps one Engine; requests go in, events come out.
//
//   HOBBIT_ASSIGN_OR_RETURN(auto engine, Engine::Create(options));
//   HOBBIT_ASSIGN_OR_RETURN(RequestId id, engine->Submit(std::move(request), [](GenerateEvent e) {
//     ... called on the engine thread: copy what you need and return at once, never block ...
//   }));
//   engine->Cancel(id);   // from any thread; the sequence is gone by the next step
//
// One engine thread runs schedule -> execute -> sample -> emit. Continuous batching: a request
// submitted while others decode joins them at the next step; long prompts are prefilled in
// chunks under a per-step token budget. Every submitted request gets exactly one final event
// (finish reason STOP, LENGTH, CANCELLED, ABORTED or ERROR), after which its sink is dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/engine/engine_options.h"
#include "runtime/engine/generate_types.h"

namespace hobbit::runtime {

class Tokenizer;
struct ModelConfig;
struct EngineParts;  // runtime/engine/engine_parts.h

// Thread-safe: every method may be called from any thread.
class Engine {
 public:
  // Loads the model and tokenizer, sizes the KV cache, warms up, and starts the engine thread.
  // `progress` (optional) receives one-line status messages while loading ("loading weights 40%").
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options,
                                                        std::function<void(std::string_view)> progress = {});
  // Builds an engine around already-made parts (tests, tools): a StepExecutor (e.g. a
  // deterministic stand-in for the model), a tokenizer, the model's hyperparameters and the
  // size of the executor's KV cache. Checks `options` as Create does.
  static absl::StatusOr<std::unique_ptr<Engine>> CreateFromParts(const EngineOptions& options, EngineParts parts);
  // Cancels everything still running (final event ABORTED) and joins the engine thread.
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request. InvalidArgument names the bad field and its allowed range
  // (e.g. "max_tokens: 0 is out of range [1, 4096]"); ResourceExhausted when the waiting queue is
  // full; Unavailable once draining has begun. On success the sink receives the events, on the
  // engine thread; on error it is never called.
  absl::StatusOr<RequestId> Submit(GenerateRequest request, EventSink sink);

  // Cancels a request (client cancellation, deadline, disconnect): its KV blocks (and later its
  // expert pins) are freed at the next step and its final event has finish reason CANCELLED.
  // Unknown or finished ids are ignored.
  void Cancel(RequestId id);

  // Stops admitting (Submit returns Unavailable), lets running requests finish until `deadline`,
  // then cancels the rest (finish reason ABORTED). Returns when no request is left (every final
  // event delivered). Never call it from a sink: it waits for the engine thread.
  void Drain(absl::Time deadline);

  const Tokenizer& tokenizer() const;
  const ModelConfig& model_config() const;
  const std::string& chat_template() const;  // tokenizer.chat_template of the model ("" if none)
  // The backend the model runs on ("cpu", "cuda"): what a configured "auto" resolved to.
  std::string backend_name() const;
  EngineStats GetStats() const;

  // Called by the engine loop once per step and while idle (at least every second): the daemon
  // hooks the systemd watchdog here. Set before the first Submit.
  void SetHeartbeat(std::function<void()> heartbeat);

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hobbit::runtime
