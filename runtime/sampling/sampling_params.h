// Per-request sampling settings and their validation.
//
//   SamplingParams params;
//   params.temperature = 0.7f;
//   params.top_p = 0.9f;
//   HOBBIT_RETURN_IF_ERROR(ValidateSamplingParams(params));
//   Sampler sampler(params, vocab_size);
//
// The defaults switch every filter and penalty off and sample from the model's distribution
// at temperature 1. The defaults are written here and nowhere else.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace hobbit::runtime {

struct SamplingParams {
  // Divides the logits; 0 means greedy (argmax, ties go to the lowest token id). >= 0, finite.
  float temperature = 1.0f;
  // Keeps the k most likely tokens; 0 switches it off. >= 0.
  int32_t top_k = 0;
  // Keeps the smallest set of most likely tokens whose probability mass is >= top_p;
  // 1 switches it off. In (0, 1].
  float top_p = 1.0f;
  // Drops tokens whose probability is below min_p times the largest one; 0 switches it off.
  // In [0, 1).
  float min_p = 0.0f;
  // CTRL-style: a seen token's logit is divided by it when positive, multiplied when not;
  // 1 switches it off. > 0, finite.
  float repetition_penalty = 1.0f;
  // OpenAI-style: subtracted once from the logit of every seen token. Finite.
  float presence_penalty = 0.0f;
  // OpenAI-style: subtracted count times from the logit of a token seen count times. Finite.
  float frequency_penalty = 0.0f;
  // How many of the most recent tokens (prompt and generated) the three penalties look at;
  // -1 means the whole context, 0 switches the penalties off. >= -1.
  int32_t penalty_last_n = 64;
  // Seeds the sampler's random generator: the same seed and the same logits give the same
  // tokens on every platform.
  uint64_t seed = 0;
};

// Returns InvalidArgument naming the first field out of range, its allowed range and its value.
absl::Status ValidateSamplingParams(const SamplingParams& params);

}  // namespace hobbit::runtime
