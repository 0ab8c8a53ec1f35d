// RMSNorm on CUDA: out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight (weight may be null).
// One block per row; float32 accumulation. In place is allowed (out == x).
#pragma once

#include <cstdint>

#include "absl/status/status.h"

struct CUstream_st;

namespace hobbit::kernels {

struct RmsNormParams {
  const float* x = nullptr;       // device [n_rows, dim]
  const float* weight = nullptr;  // device [dim] or null
  int64_t n_rows = 0;             // < 2^31
  int64_t dim = 0;
  float eps = 1e-6f;
  float* out = nullptr;  // device [n_rows, dim]
};

absl::Status RmsNormF32(const RmsNormParams& p, CUstream_st* stream);

}  // namespace hobbit::kernels
