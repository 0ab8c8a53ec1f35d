#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace hobbit::runtime {
namespace {

constexpr float kMinusInfinity = -std::numeric_limits<float>::infinity();

// NaN becomes -inf and +inf the largest float, so that max-subtraction stays finite.
float Sanitize(float logit) {
  if (std::isnan(logit)) return kMinusInfinity;
  return std::min(logit, std::numeric_limits<float>::max());
}

float MaxLogit(std::span<const float> logits) {
  float max_logit = kMinusInfinity;
  for (float logit : logits) max_logit = std::max(max_logit, Sanitize(logit));
  return max_logit;
}

// log(sum(exp(logit))) over the sanitized logits, or -inf if all of them are -inf. Float exp
// (about twice as fast as double over a whole vocabulary) summed in double.
double LogSumExp(std::span<const float> logits) {
  const float max_logit = MaxLogit(logits);
  if (max_logit == kMinusInfinity) return max_logit;
  double sum = 0.0;
  for (float logit : logits) sum += std::exp(Sanitize(logit) - max_logit);
  return max_logit + std::log(sum);
}

// log_softmax(logits)[token]; -inf when no token has a finite logit.
float LogProb(float logit, double log_total) {
  if (log_total == -std::numeric_limits<double>::infinity()) return static_cast<float>(log_total);
  return static_cast<float>(Sanitize(logit) - log_total);
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size, bool compute_logprobs)
    : params_(params),
      vocab_size_(vocab_size),
      compute_logprobs_(compute_logprobs),
      window_(params.penalty_last_n),
      rng_(params.seed) {
  assert(ValidateSamplingParams(params).ok());
  assert(vocab_size > 0);
}

void Sampler::Accept(int32_t token) {
  if (token < 0 || token >= vocab_size_) return;
  window_.Push(token);
}

int32_t Sampler::Sample(std::span<const float> logits) {
  assert(logits.size() == static_cast<size_t>(vocab_size_));
  if (logits.empty()) return 0;
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    candidates_[i] = {static_cast<int32_t>(i), Sanitize(logits[i]), 0.0f};
  }
  window_.Apply(candidates_, params_.repetition_penalty, params_.presence_penalty,
                params_.frequency_penalty);

  // The first maximum is the lowest id: candidates_ is in id order.
  size_t best = 0;
  for (size_t i = 1; i < candidates_.size(); ++i) {
    if (candidates_[i].logit > candidates_[best].logit) best = i;
  }
  const float max_logit = candidates_[best].logit;
  const int32_t token = (params_.temperature == 0.0f || max_logit == kMinusInfinity)
                            ? candidates_[best].id
                            : Draw(max_logit);
  last_logprob_ = compute_logprobs_ ? LogProb(logits[token], LogSumExp(logits)) : 0.0f;
  return token;
}

int32_t Sampler::Draw(float max_logit) {
  std::span<internal::Candidate> live(candidates_);
  const size_t top_k = static_cast<size_t>(params_.top_k);
  const bool sorted = top_k > 0 && top_k < live.size();
  live = live.first(internal::KeepTopK(live, top_k));
  internal::ComputeWeights(live, params_.temperature, max_logit);
  if (params_.top_p < 1.0f) {
    live = live.first(internal::KeepTopP(live, params_.top_p, sorted, top_p_scratch_));
  }
  if (params_.min_p > 0.0f) live = live.first(internal::KeepMinP(live, params_.min_p));
  return live[internal::DrawIndex(live, rng_.NextDouble())].id;
}

std::vector<std::pair<int32_t, float>> Sampler::TopLogprobs(std::span<const float> logits,
                                                            int n) const {
  const size_t count = std::min(static_cast<size_t>(std::max(n, 0)), logits.size());
  std::vector<internal::Candidate> ranked(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    ranked[i] = {static_cast<int32_t>(i), Sanitize(logits[i]), 0.0f};
  }
  std::partial_sort(ranked.begin(), ranked.begin() + count, ranked.end(), internal::MoreLikely);
  const double log_total = LogSumExp(logits);
  std::vector<std::pair<int32_t, float>> result;
  result.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    result.emplace_back(ranked[i].id, LogProb(ranked[i].logit, log_total));
  }
  return result;
}

}  // namespace hobbit::runtime
