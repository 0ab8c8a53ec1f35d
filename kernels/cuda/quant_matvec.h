// QuantMatVec on CUDA: y[t, r] = W[r, :] . x[t, :] for a few tokens (decode), reading the stored
// blocks of W directly, so each weight byte crosses the memory bus once per call.
//
// Shape/limits: n_tokens in [1, kQuantMatVecMaxTokens]; cols a whole number of the type's blocks
// (16 elements for F32/F16/BF16); x 16-byte aligned; rows < 2^31. Any alignment of W.
// One warp per row streams the row through shared memory in 16-byte coalesced loads (up to 2 KB
// per stage; the next stage's loads are in flight while the current one is decoded), then lanes decode consecutive 8-element steps (internal/matvec_steps.cuh) and
// accumulate scale * (levels . x) - offset * sum(x) in float32.
//
//   QuantMatVecParams p{.type = GgmlType::kQ4_K, .w = w, .rows = 14336, .cols = 4096,
//                       .row_bytes = 2304, .x = x, .n_tokens = 1, .y = y};
//   if (QuantMatVecCanRun(p)) HOBBIT_RETURN_IF_ERROR(QuantMatVec(p, stream));
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

struct CUstream_st;

namespace hobbit::kernels {

inline constexpr int32_t kQuantMatVecMaxTokens = 8;

struct QuantMatVecParams {
  GgmlType type = GgmlType::kF32;
  const void* w = nullptr;  // device, rows * row_bytes bytes
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
  const float* x = nullptr;  // device [n_tokens, cols]
  int32_t n_tokens = 0;
  float* y = nullptr;  // device [n_tokens, rows]
};

// True when the shape and alignment fit the limits above.
bool QuantMatVecCanRun(const QuantMatVecParams& p);

// InvalidArgument (naming the type and shape) when !QuantMatVecCanRun(p).
absl::Status QuantMatVec(const QuantMatVecParams& p, CUstream_st* stream);

}  // namespace hobbit::kernels
