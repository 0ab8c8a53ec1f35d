// ScaleRowsBySigmoid on CUDA: x[r, :] *= sigmoid(gate[r]) (the shared-expert gate of qwen2moe).
#pragma once

#include <cstdint>

#include "absl/status/status.h"

struct CUstream_st;

namespace hobbit::kernels {

absl::Status ScaleRowsBySigmoidF32(float* x, const float* gate, int64_t n_rows, int64_t dim, CUstream_st* stream);

}  // namespace hobbit::kernels
