// QuantMatMul on CUDA: y[t, r] = W[r, :] . x[t, :] for any token count, W in any supported type.
//
// Up to kQuantMatVecMaxTokens tokens (decode) it runs QuantMatVec on the stored blocks. For more
// tokens (prefill) F32 weights go straight to cuBLAS SGEMM; other types are decoded to float32
// in tiles of rows that fit the caller's workspace (GetRowsF32), each tile then multiplied by
// SGEMM, so the result matches the CPU's float32 product to rounding.
//
//   std::vector<...> ws(QuantMatMulWorkspaceBytes(p));  // device memory
//   HOBBIT_RETURN_IF_ERROR(QuantMatMul(p, ws, ws_bytes, cublas, stream));
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
};

// Workspace that lets the product run in tiles of at least one row: cols * 4 bytes (F32 weights
// at 4-byte alignment use none). More workspace means fewer, larger SGEMM calls.
size_t QuantMatMulMinWorkspaceBytes(const CudaQuantMatMulParams& p);

// InvalidArgument for an unsupported type or shape, or a workspace under the minimum; Internal
// for a cuBLAS failure. `workspace` is device memory of `workspace_bytes` bytes.
absl::Status CudaQuantMatMul(const CudaQuantMatMulParams& p, float* workspace, size_t workspace_bytes,
                             cublasContext* cublas, CUstream_st* stream);

}  // namespace hobbit::kernels
