// ValidateGenerateRequest: the checks Engine::Submit applies before a request is queued.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "runtime/engine/generate_types.h"
#include "runtime/scheduler/scheduler.h"

namespace hobbit::runtime {

inline constexpr int32_t kMaxTopLogprobs = 20;

struct RequestLimits {
  int32_t n_vocab = 0;
  int32_t max_tokens_limit = 0;
  int32_t max_stop_strings = 0;
  int32_t max_stop_string_bytes = 0;
  SchedulerConfig scheduler;  // max_context and the KV block size
  int32_t num_kv_blocks = 0;
};

// OK, or InvalidArgument whose message starts with the offending field (as GenerateRequest
// names it, e.g. "prompt_tokens[3]", "max_tokens", "stop_strings[1]", "sampling parameter
// top_p") and states the allowed range and the value received.
absl::Status ValidateGenerateRequest(const GenerateRequest& request, const RequestLimits& limits);

}  // namespace hobbit::runtime
