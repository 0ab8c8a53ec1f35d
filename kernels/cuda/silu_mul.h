// SwiGLU's elementwise half on CUDA: out = silu(gate) * up, silu(z) = z / (1 + e^-z).
// out may alias gate or up.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

struct CUstream_st;

namespace hobbit::kernels {

absl::Status SiluMulF32(const float* gate, const float* up, int64_t n, float* out, CUstream_st* stream);

}  // namespace hobbit::kernels
