// Fill on CUDA: x[i] = value for i < n.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

struct CUstream_st;

namespace hobbit::kernels {

absl::Status FillF32(float* x, float value, int64_t n, CUstream_st* stream);

}  // namespace hobbit::kernels
