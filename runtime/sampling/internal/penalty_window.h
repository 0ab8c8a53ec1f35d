// The recent-token window behind the repetition, presence and frequency penalties.
#pragma once

#include <cstdint>
#include <deque>
#include <span>

#include "absl/container/flat_hash_map.h"
#include "runtime/sampling/internal/candidate_filters.h"

namespace hobbit::runtime::internal {

// Counts how often each token occurs among the last `last_n` pushed tokens. Owned by one
// Sampler; not thread-safe.
class PenaltyWindow {
 public:
  // last_n: the window length; -1 keeps every token, 0 keeps none.
  explicit PenaltyWindow(int32_t last_n) : last_n_(last_n) {}

  void Push(int32_t token);

  // For each token in the window with 0 <= token < candidates.size(), in the order llama.cpp
  // applies them: the repetition penalty (logit > 0 ? logit / r : logit * r), then
  // logit -= count * frequency + presence.
  // REQUIRES: candidates in id order (candidates[i].id == i).
  void Apply(std::span<Candidate> candidates, float repetition, float presence,
             float frequency) const;

  int32_t CountOf(int32_t token) const;

 private:
  int32_t last_n_;
  std::deque<int32_t> recent_;  // only kept for a bounded window
  absl::flat_hash_map<int32_t, int32_t> counts_;
};

}  // namespace hobbit::runtime::internal
