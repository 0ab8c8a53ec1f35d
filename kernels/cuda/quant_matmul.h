// QuantMatMul on CUDA: y[t, r] = W[r, :] . x[t, :] for any token count, W in any supported type.
//
// Up to kQuantMatVecMaxTokens tokens (decode) it runs QuantMatVec on the stored blocks. For more
// tokens (prefill) the weights are decoded in tiles of rows that fit the caller's workspace and
// each tile is multiplied with cuBLAS:
//   - f16 (PrefillPrecision f16): quantized weights decoded to FP16 (DequantizeRowsF16), F16
//     weights as stored, activations scaled per token by a power of two into FP16 (ScaleToF16),
//     FP32 sums on the FP16 tensor cores, the scale undone on y (f16_operands.h);
//   - otherwise, and for F32/BF16 weights: tiles decoded to float32 (GetRowsF32), SGEMM (TF32
//     when the handle's math mode allows it); F32 weights at 4-byte alignment need no tile.
//
//   std::vector<...> ws(QuantMatMulWorkspaceBytes(p, 64 << 20));  // device memory
//   HOBBIT_RETURN_IF_ERROR(CudaQuantMatMul(p, ws, ws_bytes, cublas, stream));
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

struct CUstream_st;
struct cublasContext;

namespace hobbit::kernels {

struct CudaQuantMatMulParams {
  GgmlType type = GgmlType::kF32;
  const void* w = nullptr;  // device, rows * row_bytes bytes
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
  const float* x = nullptr;  // device [n_tokens, cols]
  int32_t n_tokens = 0;
  float* y = nullptr;  // device [n_tokens, rows]
  bool f16 = false;    // FP16 operands where the weight type allows them
};

// Whether the product would run on FP16 operands (f16 set, more tokens than the matrix-vector
// kernel takes, quantized or F16 weights).
bool QuantMatMulUsesF16(const CudaQuantMatMulParams& p);

// Workspace for the product: the FP16 activations and their scales where QuantMatMulUsesF16,
// then decoded tiles of max(tile_bytes, one row) bytes (none for weights used as stored). More
// tile bytes mean fewer, larger cuBLAS calls.
size_t QuantMatMulWorkspaceBytes(const CudaQuantMatMulParams& p, size_t tile_bytes);

// InvalidArgument for an unsupported type or shape, or a workspace under
// QuantMatMulWorkspaceBytes(p, 0); Internal for a cuBLAS failure. `workspace` is device memory of
// `workspace_bytes` bytes, 256-byte aligned.
absl::Status CudaQuantMatMul(const CudaQuantMatMulParams& p, void* workspace, size_t workspace_bytes,
                             cublasContext* cublas, CUstream_st* stream);

}  // namespace hobbit::kernels
