// Row gather and scaled scatter-add on CUDA, the two halves of running one expert on its tokens:
//   GatherRowsF32:       dst[i, :] = src[rows[i], :]
//   ScatterAddScaledF32: dst[rows[i], :] += scales[i] * src[i, :]  (atomic adds, so repeated
//                        rows accumulate; with distinct rows the result is deterministic)
// rows and scales are device arrays; rows are not range-checked on the device.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

struct CUstream_st;

namespace hobbit::kernels {

absl::Status GatherRowsF32(const float* src, const int32_t* rows, int32_t n, int64_t dim, float* dst,
                           CUstream_st* stream);

absl::Status ScatterAddScaledF32(const float* src, const int32_t* rows, const float* scales, int32_t n, int64_t dim,
                                 float* dst, CUstream_st* stream);

}  // namespace hobbit::kernels
