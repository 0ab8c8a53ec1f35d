// Turns EngineOptions into the scheduler's limits and the KV cache's size once the model's
// hyperparameters are known; every error names the option at fault.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "runtime/engine/engine_options.h"
#include "runtime/scheduler/scheduler.h"

namespace hobbit::runtime {

// Checks the limits (each >= 1) and resolves max_context 0 to the model's n_ctx_train; a
// max_context above n_ctx_train is refused (the model was never trained that far).
absl::StatusOr<SchedulerConfig> ResolveSchedulerConfig(const EngineOptions& options, int32_t n_ctx_train);

// KV blocks that kv.cache_bytes buys at `bytes_per_token`, capped at what max_running sequences
// of max_context tokens can ever use. InvalidArgument when not even one block fits.
absl::StatusOr<int32_t> KvBlocksForBudget(const EngineOptions& options, const SchedulerConfig& config,
                                          int64_t bytes_per_token);

}  // namespace hobbit::runtime
