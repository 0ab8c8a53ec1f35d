// Engine::Impl: the engine thread and the state shared with the callers of the Engine facade.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_parts.h"
#include "runtime/engine/request_state.h"
#include "runtime/engine/validate_request.h"
#include "runtime/kv/block_allocator.h"
#include "runtime/scheduler/scheduler.h"

namespace hobbit::runtime {

// Thread safety: the public methods may be called from any thread. Everything under "engine
// thread" below is touched only by the loop; everything else is guarded by mu_. Sinks and the
// heartbeat are called on the engine thread without mu_ held.
class Engine::Impl {
 public:
  // REQUIRES: options and parts were checked by Engine (limits >= 1, num_kv_blocks >= 1).
  Impl(const EngineOptions& options, EngineParts parts, const SchedulerConfig& scheduler_config);
  ~Impl();  // aborts what is left and joins the engine thread

  absl::StatusOr<RequestId> Submit(GenerateRequest request, EventSink sink);
  void Cancel(RequestId id);
  void Drain(absl::Time deadline);
  EngineStats GetStats() const;
  void SetHeartbeat(std::function<void()> heartbeat);

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ModelConfig& model_config() const { return model_config_; }
  const std::string& chat_template() const { return chat_template_; }
  std::string backend_name() const { return executor_->backend_name(); }

 private:
  // What the loop takes from the callers at the start of a step.
  struct Intake {
    std::vector<std::unique_ptr<RequestState>> submitted;
    std::vector<RequestId> cancelled;
    std::string abort_message;  // non-empty: abort every request
    bool stopping = false;
  };
  // Events gathered during a step; delivered after the step's bookkeeping is published.
  struct StepEvents {
    std::vector<std::pair<RequestState*, GenerateEvent>> emissions;
    std::vector<std::unique_ptr<RequestState>> done;  // finished: kept alive until emitted
    int32_t left_queue = 0;  // requests that stopped counting against max_waiting
  };

  void Loop();
  Intake TakeIntake(bool engine_busy);
  void Beat();
  void RunStep(Intake intake, StepEvents* events);
  void AdmitSubmitted(std::vector<std::unique_ptr<RequestState>> submitted, StepEvents* events);
  void ScheduleAndExecute(StepEvents* events);
  void ExecutePlan(const StepPlan& plan, StepEvents* events);
  absl::Status CheckOutput(const StepPlan& plan, const StepOutput& out) const;
  void FinishRequest(RequestId id, FinishReason reason, std::string message, StepEvents* events);
  // Copies the loop's counters into stats_ and releases queue room (left_queue).
  void PublishStats(StepEvents* events);
  void PublishAndEmit(StepEvents* events);

  // Immutable after construction.
  const EngineOptions options_;
  const SchedulerConfig scheduler_config_;
  const std::unique_ptr<StepExecutor> executor_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  const ModelConfig model_config_;
  const std::string chat_template_;
  RequestLimits limits_;

  // Engine thread.
  BlockAllocator blocks_;
  Scheduler scheduler_;
  absl::flat_hash_map<RequestId, std::unique_ptr<RequestState>> requests_;
  EngineStats loop_stats_;  // counters the loop keeps; copied into stats_ after each step
  // Each step's logits, reused: a fresh buffer per step was allocated, faulted in and zeroed
  // before the model wrote it (600 KB a row for qwen3's 152k-token vocabulary).
  StepOutput step_output_;

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;   // the loop waits here while idle
  absl::CondVar drain_cv_;  // Drain waits here for active_ to reach 0
  std::vector<std::unique_ptr<RequestState>> submitted_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<RequestId> cancel_requests_ ABSL_GUARDED_BY(mu_);
  RequestId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int32_t queued_ ABSL_GUARDED_BY(mu_) = 0;  // accepted and never admitted (max_waiting)
  int32_t active_ ABSL_GUARDED_BY(mu_) = 0;  // accepted and final event not yet delivered
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string abort_message_ ABSL_GUARDED_BY(mu_);
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::function<void()>> heartbeat_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // started last in the constructor
};

}  // namespace hobbit::runtime
