#include "runtime/experts/expert_usage.h"

#include <algorithm>

namespace hobbit::runtime {

ExpertUsage::ExpertUsage(int32_t n_layer, int32_t n_expert, PriorityWeights weights)
    : n_layer_(n_layer), n_expert_(n_expert), weights_(weights) {}

ExpertUsage::SequenceRecords& ExpertUsage::Get(int64_t seq) {
  SequenceRecords& r = seqs_[seq];
  if (r.experts.empty()) r.experts.resize(static_cast<size_t>(n_layer_) * n_expert_);
  return r;
}

void ExpertUsage::EndSequence(int64_t seq) { seqs_.erase(seq); }

int64_t ExpertUsage::AddTokens(int64_t seq, int64_t n) {
  SequenceRecords& r = Get(seq);
  const int64_t first = r.tokens + 1;
  r.tokens += n;
  return first;
}

int64_t ExpertUsage::tokens(int64_t seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.tokens;
}

void ExpertUsage::RecordUse(int64_t seq, int64_t token_index, int32_t layer, int32_t expert, bool high) {
  SequenceRecords& r = Get(seq);
  r.tokens = std::max(r.tokens, token_index);
  Record& rec = r.experts[static_cast<size_t>(layer) * n_expert_ + expert];
  rec.last = std::max(rec.last, token_index);
  ++rec.uses;
  if (high) ++rec.high;
}

double ExpertUsage::Priority(int32_t layer, int32_t expert, int32_t layer_now) const {
  double p = 0.0;
  for (const auto& [seq, r] : seqs_) {
    if (r.tokens <= 0) continue;
    const Record& rec = r.experts[static_cast<size_t>(layer) * n_expert_ + expert];
    const double t = static_cast<double>(r.tokens);
    p += weights_.lru * rec.last / t + weights_.lfu * rec.uses / t + weights_.lhu * rec.high / t;
  }
  const int32_t distance = ((layer - layer_now) % n_layer_ + n_layer_) % n_layer_;
  p += weights_.fld * (1.0 - static_cast<double>(distance) / n_layer_);
  return p;
}

}  // namespace hobbit::runtime
