// StepExecutor: runs one StepPlan and returns its logits (the "execute" of schedule -> execute
// -> update). The engine talks to the model only through it, so its loop can be tested with a
// deterministic stand-in.
#pragma once

#include <string>

#include <cstdint>

#include "absl/status/status.h"
#include "runtime/engine/generate_types.h"
#include "runtime/model/step_plan.h"

namespace hobbit::runtime {

// Called on the engine thread only. Implementations own the model and the KV cache that the
// plan's block tables index.
class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  StepExecutor() = default;
  StepExecutor(const StepExecutor&) = delete;
  StepExecutor& operator=(const StepExecutor&) = delete;

  // Writes the K/V of every planned token and fills `out` with one row of logits per sequence
  // that asked for them (StepOutput's layout). `out` may hold an earlier step's output (the
  // engine reuses its storage): every field is overwritten. An error fails the step's sequences
  // only (`out` is then not read).
  virtual absl::Status Execute(const StepPlan& plan, StepOutput* out) = 0;

  // Expert offloading hooks; executors without an expert cache keep the defaults (no-ops, zero
  // statistics). A sequence begins when admitted (with its request's precision policy) and
  // ends when it finishes, whatever the reason; EndSequence returns its expert statistics and
  // drops its per-sequence records.
  virtual void BeginSequence(int64_t seq_id, PrecisionPolicy policy) {}
  virtual SequenceExpertStats EndSequence(int64_t seq_id) { return {}; }
  // Totals over every sequence since start.
  virtual SequenceExpertStats ExpertTotals() const { return {}; }
  // The backend the model runs on ("cpu", "cuda"): what "auto" resolved to.
  virtual std::string backend_name() const { return ""; }
  // How full the expert cache's pools are now.
  virtual ExpertCacheUse ExpertCacheOccupancy() const { return {}; }
  // Decode steps recorded and replayed (engine.cuda_graphs).
  virtual StepRecordingStats Recordings() const { return {}; }
};

}  // namespace hobbit::runtime
