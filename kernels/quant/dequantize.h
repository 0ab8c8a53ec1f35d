// DequantizeRow: decodes one stored row of any quant-supported type (quant_types.h) to floats.
//
// The result is bit-exact with ggml's dequantize_row_* and gguf-py's gguf.quants.dequantize
// (tests/kernels/quant checks it against gguf-py), so it doubles as the reference decoder for the
// faster paths (DotRow, the CUDA kernels).
//
//   std::vector<float> row(n);
//   HOBBIT_RETURN_IF_ERROR(DequantizeRow(GgmlType::kQ4_K, bytes, row.data(), n));
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

namespace hobbit::kernels {

// Decodes n elements from `src` (GgmlRowBytes(type, n) bytes, any alignment) into dst[0..n).
// InvalidArgument (naming the type and n) for an unsupported type or an n that is not a
// multiple of the type's block size; nothing is written then. Thread-safe (no shared state).
absl::Status DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

}  // namespace hobbit::kernels
