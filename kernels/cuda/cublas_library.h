// CublasLibrary: cuBLAS, loaded with dlopen the first time it is needed.
//
// Linking libcublas directly makes its ~94 KB of static thread-local storage part of every
// thread's stack reservation; libraries that start threads with small fixed stacks (civetweb,
// under the Prometheus exposer) then fail to create them. Loaded at run time, the library's TLS
// is allocated on demand instead. The handful of functions hobbit uses are resolved here.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

struct cublasContext;
struct CUstream_st;

namespace hobbit::kernels {

struct CublasLibrary {
  int (*create)(cublasContext** handle);
  int (*destroy)(cublasContext* handle);
  int (*set_stream)(cublasContext* handle, CUstream_st* stream);
  // cublasSgemm_v2 with cublasOperation_t as int (0 = N, 1 = T).
  int (*sgemm)(cublasContext* handle, int transa, int transb, int m, int n, int k, const float* alpha,
               const float* a, int lda, const float* b, int ldb, const float* beta, float* c, int ldc);
  // cublasGemmEx with cublasOperation_t, cudaDataType_t, cublasComputeType_t and cublasGemmAlgo_t
  // as int.
  int (*gemm_ex)(cublasContext* handle, int transa, int transb, int m, int n, int k, const void* alpha, const void* a,
                 int a_type, int lda, const void* b, int b_type, int ldb, const void* beta, void* c, int c_type,
                 int ldc, int compute_type, int algo);
  const char* (*status_string)(int status);
  // cublasSetMathMode with cublasMath_t as int (3 = CUBLAS_TF32_TENSOR_OP_MATH).
  int (*set_math_mode)(cublasContext* handle, int mode);
};

inline constexpr int kCublasTf32TensorOpMath = 3;
inline constexpr int kCudaR32F = 0;           // cudaDataType_t CUDA_R_32F
inline constexpr int kCudaR16F = 2;           // CUDA_R_16F
inline constexpr int kCublasCompute32F = 68;  // cublasComputeType_t CUBLAS_COMPUTE_32F
inline constexpr int kCublasGemmDefault = -1;  // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT

// The loaded library (once per process); Unavailable naming the library file if it cannot be
// loaded or lacks a function.
absl::StatusOr<const CublasLibrary*> GetCublasLibrary();

}  // namespace hobbit::kernels
