// The token-level precision rule (hobbit-algorithms.md §1) and the batch rule (ours).
//
// For one token the router's k experts, sorted by weight descending, get an unimportance score:
// the mass of the experts more important than it. A missed expert loads high if s <= T1, low if
// T1 < s <= T2, and is skipped if s > T2. In a batch an expert gets the most precise decision any
// of its tokens asks for, so it is skipped only if every token skips it.
//
//   float scores[8];
//   UnimportanceScores(weights, k, /*normalized=*/true, scores);
//   LoadDecision d = DecideMiss(scores[1], {0.6f, 0.9f});
#pragma once

#include <algorithm>
#include <cstdint>

#include "runtime/experts/expert_options.h"

namespace hobbit::runtime {

// Which copy of an expert.
enum class Precision : uint8_t { kHigh = 0, kLow = 1 };

// What to do on a miss, most precise first (the batch rule takes the minimum).
enum class LoadDecision : uint8_t { kHigh = 0, kLow = 1, kSkip = 2 };

// scores[i] = weights[0] + ... + weights[i-1] for k weights in descending order. When the model
// does not renormalize its top-k (`normalized` false), the weights are divided by their sum for
// the score only. Ties and unsorted input: the weights are scored in the order given.
void UnimportanceScores(const float* weights, int32_t k, bool normalized, float* scores);

// The rule for one missed (token, expert) pair. A threshold >= 1 admits every score (quality
// policy: T1 = T2 = 1 never loads low and never skips, whatever the float rounding of the sums).
LoadDecision DecideMiss(float score, const PrecisionThresholds& thresholds);

// The batch rule: the more precise of two decisions.
inline LoadDecision CombineDecisions(LoadDecision a, LoadDecision b) { return std::min(a, b); }

}  // namespace hobbit::runtime
