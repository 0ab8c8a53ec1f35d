// The FP16 operands of the prefill products (QuantMatMul with f16): weight rows decoded to FP16,
// activations scaled per row (token) by a power of two into FP16, and the products' rows scaled
// back.
//
// A power-of-two scale is exact, so an activation row keeps FP16's 11 significant bits whatever
// its magnitude (FP32's range, no overflow): the largest |x| of a row lands in [2^14, 2^15).
// Decoded weight values are those of GetRowsF32 (kernels/quant's DequantizeRow) rounded to the
// nearest FP16; a decoded weight beyond FP16's 65504 (a Q8_0 block scale above ~516, unheard of
// in trained models) becomes infinite.
//
//   DequantizeF16Params d{.type = GgmlType::kQ8_0, .w = w, .row_bytes = rb, .first_row = r0,
//                         .n = n, .cols = cols, .out = tile};
//   HOBBIT_RETURN_IF_ERROR(DequantizeRowsF16(d, stream));
//   HOBBIT_RETURN_IF_ERROR(ScaleToF16(x, n_tokens, n_tokens, cols, x16, scales, stream));
//   ... y = tile . x16 (cuBLAS) ...
//   HOBBIT_RETURN_IF_ERROR(ScaleRowsF32(y, y, n_tokens, rows, scales, stream));
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

struct CUstream_st;

namespace hobbit::kernels {

struct DequantizeF16Params {
  GgmlType type = GgmlType::kQ8_0;
  const void* w = nullptr;  // device, row-major, row_bytes per row
  int64_t row_bytes = 0;
  int64_t first_row = 0;    // rows first_row .. first_row + n - 1 are decoded
  int64_t n = 0;            // at most 65535
  int64_t cols = 0;
  uint16_t* out = nullptr;  // device FP16 [n, cols], 16-byte aligned
};

// True for the quantized block types (Q8_0, Q4_0/1, Q5_0/1, Q2_K..Q6_K) with cols a whole number
// of blocks. Plain F16 weights need no decoding; F32/BF16 values may not fit FP16.
bool DequantizeF16CanRun(GgmlType type, int64_t cols);

// InvalidArgument naming the type and shape where !DequantizeF16CanRun or n is out of range.
absl::Status DequantizeRowsF16(const DequantizeF16Params& p, CUstream_st* stream);

// out[r, :] = x[r, :] / scales[r] in FP16 (round to nearest), scales[r] = 2^e with
// max |x[r, :]| / 2^e in [2^14, 2^15); 1 for a row of zeros or with a non-finite value. Rows
// n_rows .. n_out_rows - 1 of out are zeros with scale 1 (padding for the product's shape).
// x: device FP32 [n_rows, cols]; out: device FP16 [n_out_rows, cols]; scales: device [n_out_rows].
absl::Status ScaleToF16(const float* x, int64_t n_rows, int64_t n_out_rows, int64_t cols, uint16_t* out,
                        float* scales, CUstream_st* stream);

// dst[r, :] = src[r, :] * scales[r] for r < n_rows; src and dst: device FP32 [n_rows, cols],
// the same buffer or apart.
absl::Status ScaleRowsF32(const float* src, float* dst, int64_t n_rows, int64_t cols, const float* scales,
                          CUstream_st* stream);

}  // namespace hobbit::kernels
