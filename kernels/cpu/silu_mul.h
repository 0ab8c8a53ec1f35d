// SwiGLU's elementwise half on the CPU: out = silu(gate) * up, silu(z) = z / (1 + e^-z).
#pragma once

#include <cstdint>

namespace hobbit::kernels {

void SiluMulF32(const float* gate, const float* up, int64_t n, float* out);

}  // namespace hobbit::kernels
