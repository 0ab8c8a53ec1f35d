#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace hobbit::kernels {

void RopeF32(const RopeF32Params& p) {
  const int32_t half = p.n_rot / 2;
  std::vector<double> inv_freq(half);
  for (int32_t i = 0; i < half; ++i) {
    inv_freq[i] = std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
  }
  for (int32_t t = 0; t < p.n_tokens; ++t) {
    const double pos = static_cast<double>(p.positions[t]) * p.freq_scale;
    for (int32_t h = 0; h < p.n_heads; ++h) {
      float* v = p.x + (static_cast<int64_t>(t) * p.n_heads + h) * p.head_dim;
      for (int32_t i = 0; i < half; ++i) {
        const double theta = pos * inv_freq[i];
        const float c = static_cast<float>(std::cos(theta));
        const float s = static_cast<float>(std::sin(theta));
        const int32_t a = p.half_split ? i : 2 * i;
        const int32_t b = p.half_split ? i + half : 2 * i + 1;
        const float x0 = v[a];
        const float x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
      }
    }
  }
}

}  // namespace hobbit::kernels
