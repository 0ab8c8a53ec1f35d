// Rotary position embedding on the CPU, in place over [n_tokens, n_heads, head_dim].
//
// Pair i of a head (i < n_rot / 2) rotates by angle pos * freq_scale * base^(-2i / n_rot).
// Adjacent style rotates (x[2i], x[2i+1]); half-split (NEOX) style rotates (x[i], x[i + n_rot/2]).
// Dims at and past n_rot are left as they are.
#pragma once

#include <cstdint>

namespace hobbit::kernels {

struct RopeF32Params {
  float* x = nullptr;
  const int32_t* positions = nullptr;  // [n_tokens]
  int32_t n_tokens = 0;
  int32_t n_heads = 0;
  int32_t head_dim = 0;
  int32_t n_rot = 0;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  bool half_split = false;
};

void RopeF32(const RopeF32Params& p);

}  // namespace hobbit::kernels
