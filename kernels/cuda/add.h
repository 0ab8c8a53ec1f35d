// Additions on CUDA: x[i] += y[i] (AddF32) and x[r, :] += bias[:] for every row (AddRowBiasF32).
#pragma once

#include <cstdint>

#include "absl/status/status.h"

struct CUstream_st;

namespace hobbit::kernels {

absl::Status AddF32(float* x, const float* y, int64_t n, CUstream_st* stream);

absl::Status AddRowBiasF32(float* x, const float* bias, int64_t n_rows, int64_t dim, CUstream_st* stream);

}  // namespace hobbit::kernels
