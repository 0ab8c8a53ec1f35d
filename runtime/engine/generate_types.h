// The request and event types of the Engine facade (no gRPC here: server/ converts).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "runtime/sampling/sampling_params.h"

namespace hobbit::runtime {

using RequestId = uint64_t;

// How the expert loader may trade precision for speed for this request (offloading modes);
// the server's configuration caps it.
enum class PrecisionPolicy { kDefault, kQuality, kBalanced, kSpeed };

struct GenerateRequest {
  std::string client_request_id;      // echoed in logs; may be empty
  std::vector<int32_t> prompt_tokens;  // already tokenized (the server renders chat/text first)
  SamplingParams sampling;
  int32_t max_tokens = 256;            // tokens to generate, >= 1
  std::vector<std::string> stop_strings;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;             // keep going past end-of-generation tokens
  int32_t top_logprobs = 0;            // 0: no logprobs; n: the sampled token's and n alternatives
  PrecisionPolicy precision_policy = PrecisionPolicy::kDefault;
};

enum class FinishReason { kStop, kLength, kCancelled, kAborted, kError };

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // alternatives, best first
};

// Expert-cache statistics of one sequence (filled by the offloading work; zero when resident).
struct SequenceExpertStats {
  uint64_t lookups = 0;
  uint64_t hits_high = 0;
  uint64_t hits_low = 0;
  uint64_t low_served_high = 0;
  uint64_t misses_high = 0;
  uint64_t misses_low = 0;
  uint64_t misses_skip = 0;
  uint64_t misses_host = 0;  // of misses_high + misses_low: computed on the CPU (experts.cpu_path)
  uint64_t bytes_demand = 0;
  uint64_t bytes_prefetch = 0;
  uint64_t prefetch_issued = 0;
  uint64_t prefetch_used = 0;
  uint64_t prefetch_wasted = 0;
  uint64_t prefetch_late = 0;
  double load_wait_seconds = 0.0;
};

struct GenerateChunk {
  std::vector<int32_t> tokens;
  std::string text;  // complete UTF-8 only; text held back by stop-string matching comes later
  std::vector<TokenLogprob> logprobs;  // one per token when requested
};

struct GenerateFinal {
  FinishReason reason = FinishReason::kStop;
  std::string message;  // for kError/kAborted: what happened
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  absl::Duration queue_time;         // submit -> first scheduled
  absl::Duration time_to_first_token;
  absl::Duration total_time;
  SequenceExpertStats expert_stats;
};

struct GenerateEvent {
  RequestId id = 0;
  bool is_final = false;
  GenerateChunk chunk;  // when !is_final
  GenerateFinal final;  // when is_final
};

// Receives a request's events on the engine thread; must return quickly and never block.
using EventSink = std::function<void(GenerateEvent&&)>;

// Device bytes of the expert cache's two pools (zero when every expert is resident).
struct ExpertCacheUse {
  int64_t high_used_bytes = 0;
  int64_t high_capacity_bytes = 0;
  int64_t low_used_bytes = 0;
  int64_t low_capacity_bytes = 0;
};

// Decode steps of recorded shape (engine.cuda_graphs; Model::RecordingStats), since start.
struct StepRecordingStats {
  uint64_t recorded = 0;  // step shapes recorded
  uint64_t replayed = 0;  // steps run by replaying a recording (the recording step included)
  uint64_t failed = 0;    // recordings that failed (those shapes then run directly)
};

struct EngineStats {
  int32_t running = 0;
  int32_t waiting = 0;
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_used = 0;
  uint64_t steps = 0;
  uint64_t prompt_tokens_total = 0;
  uint64_t generated_tokens_total = 0;
  uint64_t requests_finished = 0;
  uint64_t preemptions = 0;
  SequenceExpertStats experts;  // totals over all sequences
  ExpertCacheUse expert_cache;
  StepRecordingStats recordings;
};

}  // namespace hobbit::runtime
