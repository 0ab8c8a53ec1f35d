// The instruction-set variants of DotRowBatch, exposed so tests can run each one (DotRowBatch
// itself always picks the best one the CPU has). Internal to kernels/quant.
#pragma once

#include <cstdint>

#include "kernels/base/ggml_type.h"

namespace hobbit::kernels::quant_internal {

enum class DotIsa {
  kGeneric,  // the build's baseline target (SSE2 on x86-64, NEON on aarch64)
  kAvx2Fma,  // x86-64 with AVX2 and FMA
};

// Whether this build has the variant and this CPU can run it.
bool DotIsaAvailable(DotIsa isa);

// The variant DotRowBatch uses on this CPU.
DotIsa SelectedDotIsa();

// DotRowBatch computed by one variant. REQUIRES: DotIsaAvailable(isa), plus DotRowBatch's.
void DotRowBatchWithIsa(DotIsa isa, GgmlType type, const void* row, const float* x, int64_t n,
                        int64_t n_vectors, int64_t x_stride, float* out, int64_t out_stride);

}  // namespace hobbit::kernels::quant_internal
