#include "kernels/cpu/rms_norm.h"

#include <cmath>

#include "kernels/cpu/thread_pool.h"

namespace hobbit::kernels {
namespace {

void NormRows(const float* x, const float* weight, int64_t begin, int64_t end, int64_t dim, float eps, float* out) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    double sum = 0.0;
    for (int64_t i = 0; i < dim; ++i) sum += static_cast<double>(xr[i]) * xr[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(dim) + eps));
    if (weight) {
      for (int64_t i = 0; i < dim; ++i) o[i] = xr[i] * scale * weight[i];
    } else {
      for (int64_t i = 0; i < dim; ++i) o[i] = xr[i] * scale;
    }
  }
}

}  // namespace

void RmsNormF32(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* out,
                ThreadPool* pool) {
  if (pool && n_rows * dim >= (1 << 16)) {
    pool->ParallelFor(n_rows, 1, [&](int64_t b, int64_t e) { NormRows(x, weight, b, e, dim, eps, out); });
  } else {
    NormRows(x, weight, 0, n_rows, dim, eps, out);
  }
}

}  // namespace hobbit::kernels
