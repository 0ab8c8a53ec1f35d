#include "runtime/experts/precision_rule.h"

namespace hobbit::runtime {

void UnimportanceScores(const float* weights, int32_t k, bool normalized, float* scores) {
  float scale = 1.0f;
  if (!normalized) {
    double sum = 0.0;
    for (int32_t i = 0; i < k; ++i) sum += weights[i];
    if (sum > 0.0) scale = static_cast<float>(1.0 / sum);
  }
  float mass = 0.0f;
  for (int32_t i = 0; i < k; ++i) {
    scores[i] = mass;
    mass += weights[i] * scale;
  }
}

LoadDecision DecideMiss(float score, const PrecisionThresholds& thresholds) {
  if (thresholds.t1 >= 1.0f || score <= thresholds.t1) return LoadDecision::kHigh;
  if (thresholds.t2 >= 1.0f || score <= thresholds.t2) return LoadDecision::kLow;
  return LoadDecision::kSkip;
}

}  // namespace hobbit::runtime
