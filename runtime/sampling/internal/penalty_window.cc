#include "runtime/sampling/internal/penalty_window.h"

namespace hobbit::runtime::internal {

void PenaltyWindow::Push(int32_t token) {
  if (last_n_ == 0) return;
  ++counts_[token];
  if (last_n_ < 0) return;
  recent_.push_back(token);
  if (recent_.size() > static_cast<size_t>(last_n_)) {
    const auto it = counts_.find(recent_.front());
    if (--it->second == 0) counts_.erase(it);
    recent_.pop_front();
  }
}

void PenaltyWindow::Apply(std::span<Candidate> candidates, float repetition, float presence,
                          float frequency) const {
  for (const auto& [token, count] : counts_) {
    if (token < 0 || static_cast<size_t>(token) >= candidates.size()) continue;
    float& logit = candidates[token].logit;
    logit = logit > 0.0f ? logit / repetition : logit * repetition;
    logit -= static_cast<float>(count) * frequency + presence;
  }
}

int32_t PenaltyWindow::CountOf(int32_t token) const {
  const auto it = counts_.find(token);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace hobbit::runtime::internal
