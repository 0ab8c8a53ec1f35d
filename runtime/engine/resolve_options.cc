#include "runtime/engine/resolve_options.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace hobbit::runtime {
namespace {

absl::Status AtLeastOne(const char* name, int64_t value) {
  if (value >= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat("%s: %d is out of range; it must be >= 1", name, value));
}

}  // namespace

absl::StatusOr<SchedulerConfig> ResolveSchedulerConfig(const EngineOptions& options, int32_t n_ctx_train) {
  const SchedulerOptions& s = options.scheduler;
  for (absl::Status st : {AtLeastOne("scheduler.max_running", s.max_running),
                          AtLeastOne("scheduler.max_waiting", s.max_waiting),
                          AtLeastOne("scheduler.step_token_budget", s.step_token_budget),
                          AtLeastOne("scheduler.max_tokens_limit", s.max_tokens_limit),
                          AtLeastOne("scheduler.max_stop_string_bytes", s.max_stop_string_bytes),
                          AtLeastOne("kv.block_size", options.kv.block_size)}) {
    if (!st.ok()) return st;
  }
  if (s.max_stop_strings < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("scheduler.max_stop_strings: %d is out of range; it must be >= 0", s.max_stop_strings));
  }
  if (s.max_context < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scheduler.max_context: %d is out of range; it must be >= 0 (0 = the model's context)", s.max_context));
  }
  if (n_ctx_train < 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model context length (n_ctx_train) %d is too small to generate", n_ctx_train));
  }
  if (s.max_context > n_ctx_train) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "scheduler.max_context: %d exceeds the model's training context of %d tokens", s.max_context, n_ctx_train));
  }
  SchedulerConfig config;
  config.max_running = s.max_running;
  config.max_waiting = s.max_waiting;
  config.step_token_budget = s.step_token_budget;
  config.max_context = s.max_context == 0 ? n_ctx_train : s.max_context;
  config.block_size = options.kv.block_size;
  return config;
}

absl::StatusOr<int32_t> KvBlocksForBudget(const EngineOptions& options, const SchedulerConfig& config,
                                          int64_t bytes_per_token) {
  const int64_t block_bytes = bytes_per_token * config.block_size;
  const int64_t budget_blocks = block_bytes > 0 ? options.kv.cache_bytes / block_bytes : 0;
  if (budget_blocks < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kv.cache_bytes: %d bytes hold no KV block (%d tokens of %d bytes = %d bytes)", options.kv.cache_bytes,
        config.block_size, bytes_per_token, block_bytes));
  }
  const int64_t blocks_per_seq = (int64_t{config.max_context} + config.block_size - 1) / config.block_size;
  const int64_t useful_blocks = blocks_per_seq * config.max_running;
  return static_cast<int32_t>(std::min({budget_blocks, useful_blocks, int64_t{INT32_MAX}}));
}

}  // namespace hobbit::runtime
