// SchedulerOutput: what one Scheduler::Schedule call decided (the plan for the model plus the
// sequences whose state changed).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/model/step_plan.h"

namespace hobbit::runtime {

struct SchedulerOutput {
  // The step for the model; empty (no sequences) when nothing could run.
  StepPlan plan;
  // Cancelled sequences removed at the start of this step; their KV blocks are free again.
  std::vector<int64_t> cancelled;
  // Sequences admitted for the first time this step (their queue time ends here).
  std::vector<int64_t> first_admitted;
  // Running sequences preempted this step to free KV blocks: they went back to the head of the
  // waiting queue and will recompute their prompt and generated tokens.
  std::vector<int64_t> preempted;
};

}  // namespace hobbit::runtime
