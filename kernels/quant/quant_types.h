// Which tensor types the CPU quant kernels handle, and the row checks shared by their entry points.
//
// The supported set is F32, F16, BF16, the 32-element block types Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 and the
// 256-element K-quants Q2_K..Q6_K (layouts: docs/formats.md §2). A row of n elements of a type is
// n / block_size blocks, so n must be a multiple of the type's block size.
//
//   if (!QuantTypeSupported(type)) return ...;
//   HOBBIT_RETURN_IF_ERROR(CheckQuantRow("DequantizeRow", type, n));
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

namespace hobbit::kernels {

// True for the 13 types the quant kernels decode, encode and dot.
bool QuantTypeSupported(GgmlType type);

// OK when `type` is supported and n >= 0 is a multiple of its block size; otherwise
// InvalidArgument naming `op`, the type and n.
absl::Status CheckQuantRow(const char* op, GgmlType type, int64_t n);

}  // namespace hobbit::kernels
