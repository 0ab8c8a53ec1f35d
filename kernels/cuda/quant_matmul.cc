#include "kernels/cuda/quant_matmul.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "kernels/cuda/cublas_library.h"
#include "kernels/cuda/f16_operands.h"
#include "kernels/cuda/get_rows.h"
#include "kernels/cuda/quant_matvec.h"

namespace hobbit::kernels {
namespace {

constexpr int kOpN = 0, kOpT = 1;  // cublasOperation_t

size_t Align256(size_t n) { return (n + 255) / 256 * 256; }

QuantMatVecParams MatVec(const CudaQuantMatMulParams& p) {
  return {.type = p.type, .w = p.w, .rows = p.rows, .cols = p.cols, .row_bytes = p.row_bytes, .x = p.x,
          .n_tokens = p.n_tokens, .y = p.y};
}

// F16 weights go to cuBLAS as stored: element-aligned rows.
bool F16AsStored(const CudaQuantMatMulParams& p) {
  return p.type == GgmlType::kF16 && reinterpret_cast<uintptr_t>(p.w) % 2 == 0 && p.row_bytes % 2 == 0;
}

// F32 weights go to SGEMM as stored: packed, aligned rows.
bool F32AsStored(const CudaQuantMatMulParams& p) {
  return p.type == GgmlType::kF32 && p.row_bytes == p.cols * static_cast<int64_t>(sizeof(float)) &&
         reinterpret_cast<uintptr_t>(p.w) % sizeof(float) == 0;
}

// Rows per decoded tile: as many as fit (at least one), a multiple of 128 where more fit, so
// every tile's slice of y stays 16-byte aligned — an odd offset made cuBLAS fall back to its
// 1-element-aligned kernels, 2-3x slower on the H200.
int64_t TileRows(int64_t rows, int64_t fit) {
  const int64_t n = std::min<int64_t>({rows, 65535, std::max<int64_t>(fit, 1)});
  return n == rows || n < 128 ? n : n / 128 * 128;
}

// The FP16 product runs over the tokens padded to a multiple of kPadTokens: cuBLAS chooses its
// kernel (a host-side search of ~1 ms) once per shape, and a prefill's experts each see another
// token count. Zero tokens pad the activations; the product's padded rows land in the workspace.
constexpr int64_t kPadTokens = 32;
int64_t PaddedTokens(const CudaQuantMatMulParams& p) { return (p.n_tokens + kPadTokens - 1) / kPadTokens * kPadTokens; }

// At the start of the workspace: FP16 activations, their per-token scales, the padded product
// (where padding is needed).
size_t X16Bytes(const CudaQuantMatMulParams& p) { return Align256(sizeof(uint16_t) * PaddedTokens(p) * p.cols); }
size_t ScalesBytes(const CudaQuantMatMulParams& p) { return Align256(sizeof(float) * PaddedTokens(p)); }
size_t PaddedYBytes(const CudaQuantMatMulParams& p) {
  return PaddedTokens(p) == p.n_tokens ? 0 : Align256(sizeof(float) * PaddedTokens(p) * p.rows);
}
size_t F16OperandBytes(const CudaQuantMatMulParams& p) { return X16Bytes(p) + ScalesBytes(p) + PaddedYBytes(p); }

// Row-major y[t, r] (leading dimension ldy) = W[r, :] . x[t, :] with W row-major [rows, cols]
// (leading dimension ldw): in cuBLAS's column-major terms Y^T = op_T(W^T as stored) * X^T.
absl::Status Gemm(cublasContext* cublas, const void* w, int data_type, int64_t ldw, int64_t rows, int64_t cols,
                  const void* x, int64_t n_tokens, float* y, int64_t ldy) {
  HOBBIT_ASSIGN_OR_RETURN(const CublasLibrary* lib, GetCublasLibrary());
  const float alpha = 1.0f;
  const float beta = 0.0f;
  int s = 0;
  if (data_type == kCudaR32F) {
    s = lib->sgemm(cublas, kOpT, kOpN, static_cast<int>(rows), static_cast<int>(n_tokens), static_cast<int>(cols),
                   &alpha, static_cast<const float*>(w), static_cast<int>(ldw), static_cast<const float*>(x),
                   static_cast<int>(cols), &beta, y, static_cast<int>(ldy));
  } else {
    s = lib->gemm_ex(cublas, kOpT, kOpN, static_cast<int>(rows), static_cast<int>(n_tokens), static_cast<int>(cols),
                     &alpha, w, data_type, static_cast<int>(ldw), x, data_type, static_cast<int>(cols), &beta, y,
                     kCudaR32F, static_cast<int>(ldy), kCublasCompute32F, kCublasGemmDefault);
  }
  if (s != 0) {
    return absl::InternalError(absl::StrCat("cuda quant_matmul: cuBLAS ",
                                            data_type == kCudaR32F ? "SGEMM " : "FP16 GEMM ", rows, "x", cols, " by ",
                                            n_tokens, " tokens failed: ", lib->status_string(s)));
  }
  return absl::OkStatus();
}

// The FP16 product: x to FP16 once, the weights as stored (F16) or decoded tile by tile.
absl::Status F16Product(const CudaQuantMatMulParams& p, uint8_t* workspace, size_t workspace_bytes,
                        cublasContext* cublas, CUstream_st* stream) {
  const int64_t n_pad = PaddedTokens(p);
  auto* x16 = reinterpret_cast<uint16_t*>(workspace);
  auto* scales = reinterpret_cast<float*>(workspace + X16Bytes(p));
  float* y = n_pad == p.n_tokens ? p.y : reinterpret_cast<float*>(workspace + X16Bytes(p) + ScalesBytes(p));
  HOBBIT_RETURN_IF_ERROR(ScaleToF16(p.x, p.n_tokens, n_pad, p.cols, x16, scales, stream));
  if (F16AsStored(p)) {
    HOBBIT_RETURN_IF_ERROR(Gemm(cublas, p.w, kCudaR16F, p.row_bytes / 2, p.rows, p.cols, x16, n_pad, y, p.rows));
  } else {
    auto* tile = reinterpret_cast<uint16_t*>(workspace + F16OperandBytes(p));
    const int64_t tile_rows =
        TileRows(p.rows, static_cast<int64_t>((workspace_bytes - F16OperandBytes(p)) / sizeof(uint16_t)) / p.cols);
    for (int64_t r0 = 0; r0 < p.rows; r0 += tile_rows) {
      const int64_t n = std::min(tile_rows, p.rows - r0);
      HOBBIT_RETURN_IF_ERROR(DequantizeRowsF16(
          {.type = p.type, .w = p.w, .row_bytes = p.row_bytes, .first_row = r0, .n = n, .cols = p.cols, .out = tile},
          stream));
      HOBBIT_RETURN_IF_ERROR(Gemm(cublas, tile, kCudaR16F, p.cols, n, p.cols, x16, n_pad, y + r0, p.rows));
    }
  }
  return ScaleRowsF32(y, p.y, p.n_tokens, p.rows, scales, stream);
}

}  // namespace

bool QuantMatMulUsesF16(const CudaQuantMatMulParams& p) {
  return p.f16 && !QuantMatVecCanRun(MatVec(p)) && (F16AsStored(p) || DequantizeF16CanRun(p.type, p.cols));
}

size_t QuantMatMulWorkspaceBytes(const CudaQuantMatMulParams& p, size_t tile_bytes) {
  if (QuantMatMulUsesF16(p)) {
    return F16OperandBytes(p) + (F16AsStored(p) ? 0 : std::max(tile_bytes, sizeof(uint16_t) * p.cols));
  }
  return F32AsStored(p) ? 0 : std::max(tile_bytes, sizeof(float) * p.cols);
}

absl::Status CudaQuantMatMul(const CudaQuantMatMulParams& p, void* workspace, size_t workspace_bytes,
                             cublasContext* cublas, CUstream_st* stream) {
  if (p.n_tokens <= 0 || p.rows <= 0) return absl::OkStatus();
  const QuantMatVecParams mv = MatVec(p);
  if (QuantMatVecCanRun(mv)) return QuantMatVec(mv, stream);
  if (p.rows > (int64_t{1} << 31) - 1 || p.cols > (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matmul: ", p.rows, "x", p.cols, " is too large"));
  }
  if (workspace_bytes < QuantMatMulWorkspaceBytes(p, 0)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matmul: workspace of ", workspace_bytes,
                                                   " bytes is under the ", QuantMatMulWorkspaceBytes(p, 0),
                                                   " this product needs"));
  }
  HOBBIT_ASSIGN_OR_RETURN(const CublasLibrary* lib, GetCublasLibrary());
  if (lib->set_stream(cublas, stream) != 0) {
    return absl::InternalError("cuda quant_matmul: cublasSetStream failed");
  }
  auto* bytes = static_cast<uint8_t*>(workspace);
  if (QuantMatMulUsesF16(p)) return F16Product(p, bytes, workspace_bytes, cublas, stream);
  if (F32AsStored(p)) return Gemm(cublas, p.w, kCudaR32F, p.cols, p.rows, p.cols, p.x, p.n_tokens, p.y, p.rows);
  if (!GetRowsCanRun(p.type, p.cols)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matmul: type ", GgmlTypeName(p.type), " with ", p.cols,
                                                   " columns is not supported"));
  }
  auto* tile = reinterpret_cast<float*>(bytes);
  const int64_t tile_rows = TileRows(p.rows, static_cast<int64_t>(workspace_bytes / sizeof(float)) / p.cols);
  for (int64_t r0 = 0; r0 < p.rows; r0 += tile_rows) {
    const int64_t n = std::min(tile_rows, p.rows - r0);
    GetRowsParams g{.type = p.type, .w = p.w, .rows = p.rows, .cols = p.cols, .row_bytes = p.row_bytes,
                    .ids = nullptr, .first_row = r0, .n = n, .out = tile};
    HOBBIT_RETURN_IF_ERROR(GetRowsF32(g, stream));
    HOBBIT_RETURN_IF_ERROR(Gemm(cublas, tile, kCudaR32F, p.cols, n, p.cols, p.x, p.n_tokens, p.y + r0, p.rows));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::kernels
