// QuantMatVec on CUDA: y[t, r] = W[r, :] . x[t, :] for a few tokens (decode), reading the stored
// blocks of W directly, so each weight byte crosses the memory bus once per call.
//
// Shape/limits: n_tokens in [1, kQuantMatVecMaxTokens]; cols a whole number of the type's blocks
// (16 elements for F32/F16/BF16); x 16-byte aligned; rows < 2^31. Any alignment of W.
//
// Fast path for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (when a scratch buffer of
// QuantMatVecScratchBytes is given and W and row_bytes are multiples of 4 bytes, 16 for
// Q4_K/Q5_K): a small kernel quantizes x to int8 blocks of 32 with a float scale each (as
// llama.cpp's q8_1) into the scratch buffer, then each thread reads parts of weight blocks of
// several rows straight from global memory and takes integer dot products (__dp4a) with the int8
// activations, one float scale per 16 or 32 elements (internal/dp4a_blocks.cuh). The int8
// activations cost about 0.5 % relative error against float activations (each activation moves
// by up to 1/254 of its block's largest). F32/F16/BF16 (W and row_bytes multiples of 16 bytes)
// take the same kernel with float activations and float math. Everything else: one warp per row
// streams the row through shared memory and decodes 8-element steps (internal/matvec_steps.cuh)
// against float32 activations.
//
//   QuantMatVecParams p{.type = GgmlType::kQ4_K, .w = w, .rows = 14336, .cols = 4096,
//                       .row_bytes = 2304, .x = x, .n_tokens = 1, .y = y,
//                       .scratch = buf, .scratch_bytes = QuantMatVecScratchBytes(4096, 1)};
//   if (QuantMatVecCanRun(p)) HOBBIT_RETURN_IF_ERROR(QuantMatVec(p, stream));
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

struct CUstream_st;

namespace hobbit::kernels {

inline constexpr int32_t kQuantMatVecMaxTokens = 8;
inline constexpr int32_t kQuantMatVecMaxGroup = 4;

struct QuantMatVecParams {
  GgmlType type = GgmlType::kF32;
  const void* w = nullptr;  // device, rows * row_bytes bytes
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
  const float* x = nullptr;  // device [n_tokens, cols]
  int32_t n_tokens = 0;
  float* y = nullptr;  // device [n_tokens, rows]
  // Device, 16-byte aligned, for the quantized activations; not read before the call and free
  // again once the call's work on the stream is done. Optional (nullptr: the slow path).
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  // The scratch already holds x quantized: an earlier call on this stream with the same x, cols
  // and n_tokens that took the int8 path (QuantMatVecQuantizesX), with nothing written to x or
  // the scratch since. Skips the quantize kernel.
  bool x_quantized = false;
  // y += W x instead of y = W x (QuantMatVecCanAccumulate).
  bool accumulate = false;
};

// Scratch bytes the fast path needs for n_tokens rows of cols activations.
size_t QuantMatVecScratchBytes(int64_t cols, int32_t n_tokens);

// True when the shape and alignment fit the limits above.
bool QuantMatVecCanRun(const QuantMatVecParams& p);

// Whether QuantMatVec(p) quantizes x into the scratch (the int8 fast path), so that a following
// call on the same x may pass x_quantized.
bool QuantMatVecQuantizesX(const QuantMatVecParams& p);

// Whether QuantMatVec(p) can run with accumulate (the fast path: see above).
bool QuantMatVecCanAccumulate(const QuantMatVecParams& p);

// InvalidArgument (naming the type and shape) when !QuantMatVecCanRun(p), or accumulate without
// QuantMatVecCanAccumulate(p).
absl::Status QuantMatVec(const QuantMatVecParams& p, CUstream_st* stream);

// Several products over one x in one launch (attention's q, k and v; a shared expert's gate and
// up): at most kQuantMatVecMaxGroup, one type, cols, n_tokens, x and scratch, each on the fast
// path. Each y is what QuantMatVec(ps[k]) writes, bit for bit; x is quantized once unless
// ps[0].x_quantized. Small products (k and v: 1024 rows) are too short to reach bandwidth alone.
bool QuantMatVecGroupCanRun(std::span<const QuantMatVecParams> ps);
absl::Status QuantMatVecGroup(std::span<const QuantMatVecParams> ps, CUstream_st* stream);

}  // namespace hobbit::kernels
