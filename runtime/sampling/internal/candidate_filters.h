// The steps of the sampler chain on a list of candidate tokens: top-k, temperature weights,
// top-p, min-p and the final draw. Sampler runs them in that order, after the penalties.
//
// Every step that reorders uses MoreLikely, a strict total order (ties broken by token id), so
// the result is the same with every standard library, and a seed reproduces the same tokens.
// The steps are linear in the list length except top-k (n log k): over a 150k-token vocabulary
// a full sort would cost more than the rest of the chain together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hobbit::runtime::internal {

struct Candidate {
  int32_t id;
  float logit;   // after the penalties; finite or -infinity
  float weight;  // exp((logit - max logit) / temperature), set by ComputeWeights
};

// Larger logit first; equal logits by lower id.
inline bool MoreLikely(const Candidate& a, const Candidate& b) {
  return a.logit != b.logit ? a.logit > b.logit : a.id < b.id;
}

// Moves the k most likely candidates to the front, sorted by MoreLikely; returns how many
// are kept (k, or all when k is 0 or not smaller than the list).
size_t KeepTopK(std::span<Candidate> candidates, size_t k);

// Sets each weight to exp((logit - max_logit) / temperature), so the most likely token weighs
// 1 and the weights are the softmax up to one common factor.
// REQUIRES: temperature > 0; max_logit is the largest logit of the list and finite.
void ComputeWeights(std::span<Candidate> candidates, float temperature, float max_logit);

// Keeps the top-p set: the smallest set of most likely candidates (in MoreLikely order) whose
// weight is >= top_p of the total; the candidate that crosses the threshold is kept. A list
// already in MoreLikely order (`sorted`) is cut to a prefix. Otherwise the kept candidates
// stay in their present order; the cut is found with a histogram of the weights, sorting
// (in `scratch`) only the candidates of the bucket where the mass crosses top_p.
// Returns how many are kept (at least 1).
// REQUIRES: weights from ComputeWeights, non-empty list, top_p in (0, 1].
size_t KeepTopP(std::span<Candidate> candidates, float top_p, bool sorted,
                std::vector<Candidate>& scratch);

// Keeps, in their present order, the candidates whose weight is >= min_p times the largest
// weight (which ComputeWeights made 1, and top-p keeps); returns how many (at least 1).
// REQUIRES: weights from ComputeWeights, the most likely candidate still in the list.
size_t KeepMinP(std::span<Candidate> candidates, float min_p);

// Returns the index whose weight interval holds u * (sum of weights), walking the list in
// its present order. REQUIRES: u in [0, 1), a non-empty list with a positive total weight.
size_t DrawIndex(std::span<const Candidate> candidates, double u);

}  // namespace hobbit::runtime::internal
