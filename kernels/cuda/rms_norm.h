// RMSNorm on CUDA: out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight (weight may be null).
// One block per row; float32 accumulation. In place is allowed (out == x).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

struct CUstream_st;

namespace hobbit::kernels {

struct RmsNormParams {
  const float* x = nullptr;       // device [n_rows, dim]
  const float* weight = nullptr;  // device [dim] or null
  int64_t n_rows = 0;             // < 2^31
  int64_t dim = 0;
  float eps = 1e-6f;
  float* out = nullptr;  // device [n_rows, dim]
};

absl::Status RmsNormF32(const RmsNormParams& p, CUstream_st* stream);

// RmsNormF32 that also quantizes out to int8 blocks of 32 into q8, in the layout QuantMatVec's
// scratch holds for n_rows rows of dim (the levels, then one 16-byte record per block after them,
// at n_rows * dim bytes rounded up to 16), as QuantMatVec's own quantization of out would, so the
// products that follow can skip it (QuantMatVecParams::x_quantized). Many blocks per row: each
// block sums the whole row's squares (from L2) and normalizes and quantizes its own part. The
// weight is read before the kernel waits for the kernels queued before it (programmatic dependent
// launch): it must not be their output (a model weight is not).
// Needs dim % 32 == 0, out != x, x / out / weight / q8 16-byte aligned.
bool RmsNormQuantizeCanRun(const RmsNormParams& p, const void* q8);
absl::Status RmsNormQuantizeF32(const RmsNormParams& p, void* q8, CUstream_st* stream);

// RmsNormQuantizeF32 that also routes its output as an MoE layer's router does, in the same
// kernel: logits[t, e] = sum_c W[e, c] out[t, c], then for each row the softmax, top k and
// renormalization of RouterTopKF32 (router_topk.h), ids and weights in device memory. Each block
// (a slice of the row times a group of experts) writes its share of those experts' logits to the
// scratch; the last block to finish sums the shares in a fixed order and routes (so results do
// not depend on scheduling). On the H200 it takes about as long as the three kernels it replaces
// (cuda-kernel-bench: 7.9 against 8.4 us at the mixtral shape, 9.7 against 9.6 at qwen3's), two
// launches fewer per decode layer.
inline constexpr int64_t kNormRouteMaxRows = 8;

struct NormRouteParams {
  const void* w = nullptr;  // device [n_expert, row_bytes]: the router, F32, F16 or BF16 (16 / 8-byte aligned)
  GgmlType type = GgmlType::kF32;
  int64_t row_bytes = 0;    // >= dim elements
  int32_t n_expert = 0;     // <= kRouterMaxExperts
  int32_t k = 0;            // 1..n_expert
  bool renormalize = true;
  float* logits = nullptr;  // device [n_rows, n_expert], written
  int32_t* ids = nullptr;   // device [n_rows, k], sorted by weight descending
  float* weights = nullptr; // device [n_rows, k]
  // Device, NormRouteScratchBytes, 16-byte aligned, all zero before its first launch (the kernel
  // sets its counter back to zero for the next one). One launch at a time may use it.
  void* scratch = nullptr;
};

size_t NormRouteScratchBytes(int64_t n_rows, int64_t dim, int32_t n_expert);
// RmsNormQuantizeCanRun, n_rows <= kNormRouteMaxRows, n_rows * n_expert <= 2048, and a router the
// kernel reads.
bool RmsNormQuantizeRouteCanRun(const RmsNormParams& p, const void* q8, const NormRouteParams& r);
// The same without the two buffers (q8 and r.scratch, any 16-byte aligned buffers of their sizes
// pass): for a caller that reserves them only for a call that will run.
bool RmsNormQuantizeRouteFits(const RmsNormParams& p, const NormRouteParams& r);
absl::Status RmsNormQuantizeRouteF32(const RmsNormParams& p, void* q8, const NormRouteParams& r, CUstream_st* stream);

}  // namespace hobbit::kernels
