#include "kernels/cpu/router_topk.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace hobbit::kernels {

void RouterTopKF32(const float* logits, int32_t n_tokens, int32_t n_expert, int32_t k, bool renormalize,
                   int32_t* ids, float* weights) {
  std::vector<float> probs(n_expert);
  std::vector<int32_t> order(n_expert);
  for (int32_t t = 0; t < n_tokens; ++t) {
    const float* l = logits + static_cast<int64_t>(t) * n_expert;
    const float max = *std::max_element(l, l + n_expert);
    float sum = 0.0f;
    for (int32_t e = 0; e < n_expert; ++e) {
      probs[e] = std::exp(l[e] - max);
      sum += probs[e];
    }
    for (int32_t e = 0; e < n_expert; ++e) probs[e] /= sum;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
      return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
    });
    float picked = 0.0f;
    for (int32_t j = 0; j < k; ++j) picked += probs[order[j]];
    const float denom = renormalize ? std::max(picked, 6.103515625e-5f) : 1.0f;
    for (int32_t j = 0; j < k; ++j) {
      ids[t * k + j] = order[j];
      weights[t * k + j] = probs[order[j]] / denom;
    }
  }
}

}  // namespace hobbit::kernels
