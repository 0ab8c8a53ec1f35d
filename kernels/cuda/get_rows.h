// GetRows on CUDA: decodes whole rows of a stored (possibly quantized) matrix to float32.
//
// Serves the embedding lookup (rows picked by device ids) and the dequantize-then-cuBLAS path of
// the dense product (a contiguous run of rows). Decoded values are bit-exact with
// kernels/quant's DequantizeRow.
//
//   GetRowsParams p{.type = GgmlType::kQ4_K, .w = w, .rows = rows, .cols = cols,
//                   .row_bytes = row_bytes, .ids = ids_dev, .n = n, .out = out};
//   HOBBIT_RETURN_IF_ERROR(GetRowsF32(p, stream));
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

struct CUstream_st;

namespace hobbit::kernels {

struct GetRowsParams {
  GgmlType type = GgmlType::kF32;
  const void* w = nullptr;  // device, rows * row_bytes bytes
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
  // Device ids [n] (each in [0, rows); not checked on the device), or null: rows first_row ...
  // first_row + n - 1.
  const int32_t* ids = nullptr;
  int64_t first_row = 0;
  int64_t n = 0;
  float* out = nullptr;  // device [n, cols]
};

// True when the CUDA decoders know the type and cols is a whole number of its blocks (any cols
// for F32/F16/BF16).
bool GetRowsCanRun(GgmlType type, int64_t cols);

// InvalidArgument (naming the type and shape) when !GetRowsCanRun or the row range is out of bounds.
absl::Status GetRowsF32(const GetRowsParams& p, CUstream_st* stream);

}  // namespace hobbit::kernels
