// The production one-token dot (kernels/cuda/quant_matvec.cu, which the sweep includes first) as
// the dot sweeps launch it: the same parameters for every sweep, and, unless a shape is given, the
// shape LaunchFast picks (OneTokenShape's Short for rows of at most kDotThreads items, else Long).
#pragma once

#include <type_traits>

#include "tools/device/sweeps/sweep_harness.cuh"

namespace sweep {

template <class T, class Shape = void>
void LaunchOneTokenDot(const void* w, int64_t rows, int64_t cols, int64_t row_bytes, const Ctx& c, float* y) {
  using namespace hobbit::kernels;
  // LaunchDot takes the block type from its template argument; .type is not read.
  QuantMatVecParams p{.type = GgmlType::kQ8_0,
                      .w = w,
                      .rows = rows,
                      .cols = cols,
                      .row_bytes = row_bytes,
                      .x = c.x,
                      .n_tokens = 1,
                      .y = y};
  if constexpr (!std::is_void_v<Shape>) {
    LaunchDot<T, 1, Shape>(&p, 1, c.xq, c.xm, nullptr);
  } else if (cols / T::kBlockElems * T::kSubs <= kDotThreads) {
    LaunchDot<T, 1, typename OneTokenShape<T>::Short>(&p, 1, c.xq, c.xm, nullptr);
  } else {
    LaunchDot<T, 1, typename OneTokenShape<T>::Long>(&p, 1, c.xq, c.xm, nullptr);
  }
}

}  // namespace sweep
