// Turns one step's logits into the next token of one sequence.
//
//   Sampler sampler(params, vocab_size);            // params validated beforehand
//   for (int32_t t : prompt) sampler.Accept(t);     // the prompt counts for the penalties
//   int32_t token = sampler.Sample(logits);         // logits: vocab_size floats
//   sampler.Accept(token);
//   float logprob = sampler.last_logprob();
//
// The chain is: penalties -> temperature -> top-k -> top-p -> min-p -> draw. That is Hugging
// Face transformers' order; llama.cpp's default chain applies the same penalties first and the
// same filters in the same order, but divides by the temperature last, so its top-p and min-p
// see the untempered distribution. Temperature 0 is greedy: the argmax of the penalized
// logits, ties to the lowest id.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "runtime/sampling/internal/candidate_filters.h"
#include "runtime/sampling/internal/penalty_window.h"
#include "runtime/sampling/internal/random_engine.h"
#include "runtime/sampling/sampling_params.h"

namespace hobbit::runtime {

// One per sequence, owned by whoever steps that sequence (the engine thread); not thread-safe.
// Deterministic: the same params (seed included), the same accepted tokens and the same logits
// give the same tokens. The random stream is identical everywhere (internal/random_engine.h);
// the probabilities go through std::exp, so two C libraries may, rarely, round one differently.
class Sampler {
 public:
  // compute_logprobs: whether Sample works out last_logprob(), which costs one more pass of
  // exp over the vocabulary; pass false when the request asked for no logprobs.
  // REQUIRES: ValidateSamplingParams(params).ok() and vocab_size > 0.
  Sampler(const SamplingParams& params, int32_t vocab_size, bool compute_logprobs = true);

  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Records a prompt or generated token for the penalties. Ids outside [0, vocab_size) are
  // ignored: no logit belongs to them.
  void Accept(int32_t token);

  // Returns the next token. NaN logits count as -infinity; if every logit is -infinity or
  // NaN the result is token 0. REQUIRES: logits.size() == vocab_size.
  int32_t Sample(std::span<const float> logits);

  // The log-probability of the token Sample last returned under the model's own distribution
  // (log-softmax of the raw logits, before penalties and temperature), as OpenAI's and vLLM's
  // logprobs report it. 0 before the first Sample, and always 0 without compute_logprobs.
  float last_logprob() const { return last_logprob_; }

  // The n most likely tokens under the same raw log-softmax, most likely first, ties to the
  // lower id; n is clamped to [0, logits.size()].
  std::vector<std::pair<int32_t, float>> TopLogprobs(std::span<const float> logits,
                                                     int n) const;

 private:
  // Runs top-k -> temperature -> top-p -> min-p -> draw on candidates_.
  int32_t Draw(float max_logit);

  const SamplingParams params_;
  const int32_t vocab_size_;
  const bool compute_logprobs_;
  internal::PenaltyWindow window_;
  internal::RandomEngine rng_;
  std::vector<internal::Candidate> candidates_;     // scratch, reused between steps
  std::vector<internal::Candidate> top_p_scratch_;  // scratch, reused between steps
  float last_logprob_ = 0.0f;
};

}  // namespace hobbit::runtime
