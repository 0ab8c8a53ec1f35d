// Dot products of one stored (quantized) row with float vectors: the inner loop of the CPU
// backend's matrix-vector and small-batch matrix products.
//
// A row is decoded 256 elements at a time into a stack buffer and multiplied into the vectors, so
// a batch of T activations pays for one decode. The result equals the dot product of
// DequantizeRow's output with x up to float rounding (relative 1e-5 of sum |w_i * x_i|; chunk
// partial sums are accumulated in double). On x86-64 CPUs with AVX2 and FMA an AVX2 build of the
// same code is picked at run time. No allocation, no locks: safe to call from many threads.
//
//   for (int64_t r = 0; r < rows; ++r) y[r] = DotRow(type, w + r * row_bytes, x, n);
#pragma once

#include <cstdint>

#include "kernels/base/ggml_type.h"

namespace hobbit::kernels {

// Returns sum_i w_i * x[i] for the n-element stored row `row` (GgmlRowBytes(type, n) bytes, any
// alignment). REQUIRES: QuantTypeSupported(type), n >= 0 and n % block size == 0 (checked by
// callers once per tensor, not here).
float DotRow(GgmlType type, const void* row, const float* x, int64_t n);

// out[t * out_stride] = DotRow(type, row, x + t * x_stride, n) for t in [0, n_vectors), decoding
// the row once per 8 vectors. Same REQUIRES as DotRow, and n_vectors >= 0. The results are
// bit-identical to DotRow's.
void DotRowBatch(GgmlType type, const void* row, const float* x, int64_t n, int64_t n_vectors,
                 int64_t x_stride, float* out, int64_t out_stride);

}  // namespace hobbit::kernels
