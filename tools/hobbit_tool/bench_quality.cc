#include "tools/hobbit_tool/bench_quality.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace hobbit::tools {

std::vector<double> LogSoftmax(std::span<const float> logits) {
  std::vector<double> out(logits.size());
  if (logits.empty()) return out;
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double log_sum = std::log(sum) + max;
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_sum;
  return out;
}

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void QualityMeter::Add(std::span<const float> reference, std::span<const float> got, int32_t next_token) {
  assert(reference.size() == got.size());
  assert(next_token >= 0 && static_cast<size_t>(next_token) < got.size());
  const std::vector<double> p = LogSoftmax(reference);
  const std::vector<double> q = LogSoftmax(got);
  double kl = 0.0;
  for (size_t i = 0; i < p.size(); ++i) kl += std::exp(p[i]) * (p[i] - q[i]);
  kl = std::max(kl, 0.0);  // rounding can leave a tiny negative sum for near-equal rows
  ++positions_;
  agree_ += ArgMax(reference) == ArgMax(got) ? 1 : 0;
  kl_sum_ += kl;
  kl_max_ = std::max(kl_max_, kl);
  nll_sum_ += -q[static_cast<size_t>(next_token)];
}

QualityFigures QualityMeter::Result() const {
  QualityFigures f;
  f.positions = positions_;
  if (positions_ == 0) return f;
  const double n = static_cast<double>(positions_);
  f.top1_agreement = static_cast<double>(agree_) / n;
  f.mean_kl = kl_sum_ / n;
  f.max_kl = kl_max_;
  f.mean_nll = nll_sum_ / n;
  f.perplexity = std::exp(f.mean_nll);
  return f;
}

}  // namespace hobbit::tools
