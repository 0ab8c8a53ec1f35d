#include "runtime/sampling/internal/candidate_filters.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

namespace hobbit::runtime::internal {
namespace {

// KeepTopP's histogram: a weight in (0, 1] is a positive float, whose bit pattern grows with
// its value, so (bits(1) - bits(w)) >> 21 is a bucket index that falls as the weight rises,
// four buckets per power of two. Weight 0 gets the last bucket.
constexpr uint32_t kOneBits = 0x3F800000u;
constexpr int kBucketShift = 21;
constexpr size_t kNumBuckets = (kOneBits >> kBucketShift) + 1;

size_t BucketOf(float weight) {
  return (kOneBits - std::bit_cast<uint32_t>(weight)) >> kBucketShift;
}

double TotalWeight(std::span<const Candidate> candidates) {
  double total = 0.0;
  for (const Candidate& c : candidates) total += c.weight;
  return total;
}

size_t KeepSortedPrefix(std::span<const Candidate> candidates, double target) {
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    cumulative += candidates[i].weight;
    if (cumulative >= target) return i + 1;
  }
  return candidates.size();
}

}  // namespace

size_t KeepTopK(std::span<Candidate> candidates, size_t k) {
  if (k == 0 || k >= candidates.size()) return candidates.size();
  std::partial_sort(candidates.begin(), candidates.begin() + k, candidates.end(), MoreLikely);
  return k;
}

void ComputeWeights(std::span<Candidate> candidates, float temperature, float max_logit) {
  for (Candidate& c : candidates) {
    // logit - max_logit <= 0, so the quotient cannot overflow for any temperature > 0.
    c.weight = std::exp((c.logit - max_logit) / temperature);
  }
}

size_t KeepTopP(std::span<Candidate> candidates, float top_p, bool sorted,
                std::vector<Candidate>& scratch) {
  if (sorted) {
    return KeepSortedPrefix(candidates,
                            static_cast<double>(top_p) * TotalWeight(candidates));
  }
  std::array<double, kNumBuckets> mass{};
  for (const Candidate& c : candidates) mass[BucketOf(c.weight)] += c.weight;
  double total = 0.0;
  for (double m : mass) total += m;
  double remaining = static_cast<double>(top_p) * total;

  // The bucket where the cumulative mass, most likely first, reaches the target.
  size_t cut = 0;
  while (cut < kNumBuckets - 1 && mass[cut] < remaining) remaining -= mass[cut++];
  if (cut == kNumBuckets - 1) return candidates.size();  // rounding: keep everything

  scratch.clear();
  for (const Candidate& c : candidates) {
    if (BucketOf(c.weight) == cut) scratch.push_back(c);
  }
  std::sort(scratch.begin(), scratch.end(), MoreLikely);
  const Candidate boundary = scratch[KeepSortedPrefix(scratch, remaining) - 1];

  size_t kept = 0;
  for (const Candidate& c : candidates) {
    if (!MoreLikely(boundary, c)) candidates[kept++] = c;
  }
  return kept;
}

size_t KeepMinP(std::span<Candidate> candidates, float min_p) {
  size_t kept = 0;
  for (const Candidate& c : candidates) {
    if (c.weight >= min_p) candidates[kept++] = c;
  }
  return kept;
}

size_t DrawIndex(std::span<const Candidate> candidates, double u) {
  const double target = u * TotalWeight(candidates);
  double cumulative = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].weight <= 0.0f) continue;
    cumulative += candidates[i].weight;
    last_positive = i;
    if (target < cumulative) return i;
  }
  // Rounding can leave target a hair above the final sum.
  return last_positive;
}

}  // namespace hobbit::runtime::internal
