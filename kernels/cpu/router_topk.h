// MoE router on the CPU: softmax over each token's expert logits (float32), the k largest
// probabilities (ties: lower expert id first), sorted descending, optionally renormalized to sum
// to one (denominator clamped as llama.cpp does).
#pragma once

#include <cstdint>

namespace hobbit::kernels {

void RouterTopKF32(const float* logits, int32_t n_tokens, int32_t n_expert, int32_t k, bool renormalize,
                   int32_t* ids, float* weights);

}  // namespace hobbit::kernels
