// MoE router on CUDA: softmax over each token's expert logits (float32), the k largest
// probabilities (ties: lower expert id first), sorted descending, optionally renormalized to sum
// to one (denominator clamped at 2^-14 as llama.cpp does). One warp per token; ids and weights
// are written to device memory (the backend copies them to the host).
#pragma once

#include <cstdint>

#include "absl/status/status.h"

struct CUstream_st;

namespace hobbit::kernels {

inline constexpr int32_t kRouterMaxExperts = 1024;

struct RouterTopKParams {
  const float* logits = nullptr;  // device [n_tokens, n_expert]
  int32_t n_tokens = 0;
  int32_t n_expert = 0;           // <= kRouterMaxExperts
  int32_t k = 0;                  // 1..n_expert
  bool renormalize = true;
  int32_t* ids = nullptr;         // device [n_tokens, k]
  float* weights = nullptr;       // device [n_tokens, k]
};

absl::Status RouterTopKF32(const RouterTopKParams& p, CUstream_st* stream);

}  // namespace hobbit::kernels
