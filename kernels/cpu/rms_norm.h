// RMSNorm on the CPU: out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight (weight may be null).
#pragma once

#include <cstdint>

namespace hobbit::kernels {

class ThreadPool;

// In place is allowed (out == x).
void RmsNormF32(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* out,
                ThreadPool* pool);

}  // namespace hobbit::kernels
