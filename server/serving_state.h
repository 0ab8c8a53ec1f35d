// ServingState: what the RPC handlers may use, and whether they may use it now. hobbitd starts
// its gRPC server before the model is loaded (so health checks and clients get NOT_SERVING /
// UNAVAILABLE rather than connection errors), publishes the engine once it is warm, and marks
// the state draining at SIGTERM.
#pragma once

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/engine/engine_options.h"
#include "server/prompt_encoder.h"
#include "server/proto_convert.h"

namespace hobbit::runtime {
class Engine;
}  // namespace hobbit::runtime

namespace hobbit::server {

// Everything a handler needs, fixed once the engine is up. The engine is owned by main and
// outlives the gRPC server.
struct ServingContext {
  runtime::Engine* engine = nullptr;
  std::unique_ptr<PromptEncoder> encoder;
  RequestLimits limits;
  runtime::EngineOptions options;
  bool has_chat_template = false;
};

// Thread-safe. Phases only move forward: loading -> serving -> draining.
class ServingState {
 public:
  // Loading -> serving.
  void Publish(std::unique_ptr<ServingContext> context);
  // Serving (or loading) -> draining: Generate answers UNAVAILABLE from now on.
  void BeginDrain();

  // The context for a new Generate call; Unavailable while loading or draining.
  absl::StatusOr<const ServingContext*> ForGenerate() const;
  // The context for the admin calls, which keep working while draining; Unavailable while
  // loading.
  absl::StatusOr<const ServingContext*> ForAdmin() const;

 private:
  mutable absl::Mutex mu_;
  std::unique_ptr<ServingContext> context_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hobbit::server
