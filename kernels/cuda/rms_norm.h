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

// RmsNormF32 that also quantizes out to int8 blocks of 32 into q8, in the layout QuantMatVec's
// scratch holds for n_rows rows of dim (the levels, then one 16-byte record per block after them,
// at n_rows * dim bytes rounded up to 16), as QuantMatVec's own quantization of out would, so the
// products that follow can skip it (QuantMatVecParams::x_quantized). Many blocks per row: each
// block sums the whole row's squares (from L2) and normalizes and quantizes its own part.
// Needs dim % 32 == 0, out != x, x / out / weight / q8 16-byte aligned.
bool RmsNormQuantizeCanRun(const RmsNormParams& p, const void* q8);
absl::Status RmsNormQuantizeF32(const RmsNormParams& p, void* q8, CUstream_st* stream);

}  // namespace hobbit::kernels
