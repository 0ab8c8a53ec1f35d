// Products with stored (possibly quantized) weights on the CPU: y[t, r] = W[r, :] . x[t, :].
//
// W is `rows` rows of `cols` elements of a GGUF type, row r at w + r * row_bytes. Rows are split
// over the pool's threads; each row is decoded once per call and reused for all n_tokens.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

namespace hobbit::kernels {

class ThreadPool;

struct QuantMatMulParams {
  GgmlType type = GgmlType::kF32;
  const void* w = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
  const float* x = nullptr;  // [n_tokens, cols]
  int64_t n_tokens = 0;
  float* y = nullptr;  // [n_tokens, rows]
};

// InvalidArgument for an unsupported type or a row length that is not a multiple of its block.
absl::Status QuantMatMul(const QuantMatMulParams& p, ThreadPool* pool);

}  // namespace hobbit::kernels
