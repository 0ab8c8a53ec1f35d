// SequenceState: the scheduler's record of one sequence (its tokens, how many of them are in the
// KV cache, and the KV blocks it holds).
#pragma once

#include <cstdint>
#include <vector>

namespace hobbit::runtime {

// Owned by the Scheduler; read-only to everyone else (tests and the engine inspect it through
// Scheduler::Find). Engine thread only.
struct SequenceState {
  int64_t id = 0;
  std::vector<int32_t> tokens;  // the prompt, then every generated token
  int32_t num_prompt_tokens = 0;
  int32_t max_tokens = 0;
  // Tokens whose K/V is in the cache. Preemption resets it to 0: the sequence recomputes its
  // prompt and generated tokens when it is admitted again.
  int32_t num_computed = 0;
  std::vector<int32_t> block_table;  // KV blocks in position order
  bool running = false;
  bool cancelled = false;        // removed at the start of the next Schedule
  bool ever_scheduled = false;   // admitted at least once (preempted sequences stay true)
  int32_t num_preemptions = 0;

  int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t num_generated() const { return num_tokens() - num_prompt_tokens; }
  // Tokens the model has not seen yet: the whole prompt at first, then one per decode step.
  int32_t num_uncomputed() const { return num_tokens() - num_computed; }
};

}  // namespace hobbit::runtime
