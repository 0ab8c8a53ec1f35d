// StepPlan: the contract between the scheduler and the model for one engine step.
//
// A step runs any mix of prefill chunks and decode tokens from several sequences. Tokens are
// flattened, grouped by sequence; each sequence brings its KV block table. The model writes the
// K/V of every planned token into the paged KV cache and returns logits only for the rows asked for.
//
//   StepPlan plan;
//   plan.tokens = {5, 6, 7, 42};            // seq A: prefill of 3 tokens; seq B: 1 decode token
//   plan.seqs = {{.first_token = 0, .n_tokens = 3, .n_past = 0,  .block_table = {0}},
//                {.first_token = 3, .n_tokens = 1, .n_past = 17, .block_table = {1, 2}}};
//   // positions of seq A are 0,1,2; seq B's token is at position 17.
#pragma once

#include <cstdint>
#include <vector>

namespace hobbit::runtime {

enum class LogitsWanted {
  kNone,  // a prefill chunk that is not the prompt's last: no logits needed
  kLast,  // the logits after the sequence's last planned token (decode, last prefill chunk)
  kAll,   // after every planned token (scoring, `hobbit-tool logits`)
};

struct StepSequence {
  int32_t first_token = 0;  // index of this sequence's first token in StepPlan::tokens
  int32_t n_tokens = 0;     // tokens of this sequence in the step (> 0)
  int32_t n_past = 0;       // tokens already in its KV cache; the first planned token sits at n_past
  // KV blocks in position order; must cover n_past + n_tokens positions (block_size each).
  std::vector<int32_t> block_table;
  LogitsWanted logits = LogitsWanted::kLast;
  int64_t seq_id = 0;       // the engine's id, for statistics and per-sequence expert records
};

struct StepPlan {
  std::vector<int32_t> tokens;
  std::vector<StepSequence> seqs;

  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
};

// Logits of one step: rows in sequence order; a kLast sequence contributes one row, a kAll
// sequence n_tokens rows, a kNone sequence none. Row-major [n_rows, n_vocab].
struct StepOutput {
  std::vector<float> logits;
  int32_t n_rows = 0;
  int32_t n_vocab = 0;
};

}  // namespace hobbit::runtime
