// QuantizeRow: encodes floats into any quant-supported type (quant_types.h), for synthetic
// models (`hobbit-tool synth --type`), tests and low-precision expert copies.
//
// F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 are bit-exact with ggml's quantize_row_*_ref and gguf-py's
// gguf.quants.quantize. The K-quants (Q2_K..Q6_K) have their own quantizer: per sub-block a
// least-squares-refined scale (and min), coded as 6-/4-bit or int8 sub-scales against fp16
// super-block scales, then each value rounded against the decoded scales. Its blocks decode with
// any ggml-compatible decoder and its round-trip error on Gaussian data is on par with ggml's
// reference quantizers (tests/kernels/quant/quantize_k_test.cc), but the bytes differ from
// llama-quantize's. K-quant encoding is slow (~10-25 Melem/s per thread); the 32-element types
// encode at 100-500 Melem/s.
//
//   std::vector<uint8_t> bytes(*GgmlRowBytes(type, n));
//   HOBBIT_RETURN_IF_ERROR(QuantizeRow(GgmlType::kQ8_0, x, bytes.data(), n));
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

namespace hobbit::kernels {

// Encodes src[0..n) into dst (GgmlRowBytes(type, n) bytes, any alignment). InvalidArgument
// (naming the type and n) for an unsupported type, an n that is not a multiple of the block size,
// or a non-finite input to a block type (the block scales cannot represent it); F32/F16/BF16
// accept inf and NaN. Thread-safe (no shared state).
absl::Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace hobbit::kernels
