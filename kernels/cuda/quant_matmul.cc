#include "kernels/cuda/quant_matmul.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "kernels/cuda/cublas_library.h"
#include "kernels/cuda/get_rows.h"
#include "kernels/cuda/quant_matvec.h"

namespace hobbit::kernels {
namespace {

// Row-major y[t, r] (leading dimension ldy) = W[r, :] . x[t, :] with W row-major [rows, cols]:
// in cuBLAS's column-major terms Y^T = op_T(W^T as stored) * X^T.
absl::Status Sgemm(cublasContext* cublas, const float* w, int64_t rows, int64_t cols, const float* x,
                   int64_t n_tokens, float* y, int64_t ldy) {
  HOBBIT_ASSIGN_OR_RETURN(const CublasLibrary* lib, GetCublasLibrary());
  const float alpha = 1.0f;
  const float beta = 0.0f;
  constexpr int kOpN = 0, kOpT = 1;  // cublasOperation_t
  const int s = lib->sgemm(cublas, kOpT, kOpN, static_cast<int>(rows), static_cast<int>(n_tokens),
                           static_cast<int>(cols), &alpha, w, static_cast<int>(cols), x, static_cast<int>(cols), &beta,
                           y, static_cast<int>(ldy));
  if (s != 0) {
    return absl::InternalError(absl::StrCat("cuda quant_matmul: cublasSgemm ", rows, "x", cols, " by ", n_tokens,
                                            " tokens failed: ", lib->status_string(s)));
  }
  return absl::OkStatus();
}

}  // namespace

size_t QuantMatMulMinWorkspaceBytes(const CudaQuantMatMulParams& p) {
  return static_cast<size_t>(p.cols) * sizeof(float);
}

absl::Status CudaQuantMatMul(const CudaQuantMatMulParams& p, float* workspace, size_t workspace_bytes,
                             cublasContext* cublas, CUstream_st* stream) {
  if (p.n_tokens <= 0 || p.rows <= 0) return absl::OkStatus();
  QuantMatVecParams mv{.type = p.type, .w = p.w, .rows = p.rows, .cols = p.cols, .row_bytes = p.row_bytes,
                       .x = p.x, .n_tokens = p.n_tokens, .y = p.y};
  if (QuantMatVecCanRun(mv)) return QuantMatVec(mv, stream);
  if (p.rows > (int64_t{1} << 31) - 1 || p.cols > (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matmul: ", p.rows, "x", p.cols, " is too large"));
  }
  HOBBIT_ASSIGN_OR_RETURN(const CublasLibrary* lib, GetCublasLibrary());
  if (lib->set_stream(cublas, stream) != 0) {
    return absl::InternalError("cuda quant_matmul: cublasSetStream failed");
  }
  if (p.type == GgmlType::kF32 && p.row_bytes == p.cols * static_cast<int64_t>(sizeof(float)) &&
      reinterpret_cast<uintptr_t>(p.w) % sizeof(float) == 0) {
    return Sgemm(cublas, static_cast<const float*>(p.w), p.rows, p.cols, p.x, p.n_tokens, p.y, p.rows);
  }
  if (!GetRowsCanRun(p.type, p.cols)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matmul: type ", GgmlTypeName(p.type), " with ", p.cols,
                                                   " columns is not supported"));
  }
  const int64_t tile = std::min<int64_t>({p.rows, 65535, static_cast<int64_t>(workspace_bytes / sizeof(float)) / p.cols});
  if (tile < 1) {
    return absl::InvalidArgumentError(absl::StrCat("cuda quant_matmul: workspace of ", workspace_bytes,
                                                   " bytes is under one row of ", p.cols, " floats"));
  }
  for (int64_t r0 = 0; r0 < p.rows; r0 += tile) {
    const int64_t n = std::min(tile, p.rows - r0);
    GetRowsParams g{.type = p.type, .w = p.w, .rows = p.rows, .cols = p.cols, .row_bytes = p.row_bytes,
                    .ids = nullptr, .first_row = r0, .n = n, .out = workspace};
    HOBBIT_RETURN_IF_ERROR(GetRowsF32(g, stream));
    HOBBIT_RETURN_IF_ERROR(Sgemm(cublas, workspace, n, p.cols, p.x, p.n_tokens, p.y + r0, p.rows));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::kernels
