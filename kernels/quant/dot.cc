// Built with -ffp-contract=fast (kernels/quant/CMakeLists.txt) so the AVX2 variant fuses the
// multiply-adds; the generic variant has no FMA instruction and keeps separate mul and add.
#include "kernels/quant/dot.h"

#include <algorithm>
#include <array>

#include "kernels/quant/internal/block_decoders.h"
#include "kernels/quant/internal/dot_isa.h"
#include "kernels/quant/internal/k_block_decoders.h"

namespace hobbit::kernels {
namespace quant_internal {
namespace {

constexpr int64_t kChunk = 256;  // elements decoded per step: one K-quant block, 8 Q8_0 blocks
constexpr int64_t kGroup = 8;    // vectors that share one decode of the row
constexpr int kLanes = 16;       // independent partial sums: enough to hide FMA latency

// Sum of a[i] * b[i] over len elements, in kLanes lanes that GCC maps onto vector registers.
HOBBIT_QUANT_INLINE float DotChunk(const float* a, const float* b, int64_t len) {
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) lanes[k] += a[i + k] * b[i + k];
  }
  for (int k = 0; i < len; ++i, ++k) lanes[k] += a[i] * b[i];
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int k = 0; k < width; ++k) lanes[k] += lanes[k + width];
  }
  return lanes[0];
}

// acc[t] += dot(buf, x + t * x_stride) over len elements for t < group. (Dotting 4 vectors per
// pass over buf was measured slower: GCC kept the 4 x 16 lanes in memory.)
HOBBIT_QUANT_INLINE void DotChunkGroup(const float* buf, const float* x, int64_t x_stride,
                                       int64_t len, int64_t group, double* acc) {
  for (int64_t t = 0; t < group; ++t) acc[t] += DotChunk(buf, x + t * x_stride, len);
}

// acc[t] += dot(row, x + t * x_stride) for t < group. Full chunks decode a constant 256
// elements (so the decode loops have fixed trip counts); a partial last chunk handles the rest.
template <class Decoder>
HOBBIT_QUANT_INLINE void DotGroup(const uint8_t* row, const float* x, int64_t n, int64_t group,
                                  int64_t x_stride, double* acc) {
  constexpr int64_t kChunkBytes = kChunk / Decoder::kBlockElems * Decoder::kBlockBytes;
  alignas(64) float buf[kChunk];
  int64_t i = 0;
  for (; i + kChunk <= n; i += kChunk, row += kChunkBytes) {
    Decoder::Decode(row, buf, kChunk);
    DotChunkGroup(buf, x + i, x_stride, kChunk, group, acc);
  }
  if (i < n) {
    Decoder::Decode(row, buf, n - i);
    DotChunkGroup(buf, x + i, x_stride, n - i, group, acc);
  }
}

template <class Decoder>
HOBBIT_QUANT_INLINE void DotBatch(const void* row, const float* x, int64_t n, int64_t n_vectors,
                                  int64_t x_stride, float* out, int64_t out_stride) {
  for (int64_t t0 = 0; t0 < n_vectors; t0 += kGroup) {
    const int64_t group = std::min(kGroup, n_vectors - t0);
    double acc[kGroup] = {};
    DotGroup<Decoder>(static_cast<const uint8_t*>(row), x + t0 * x_stride, n, group, x_stride, acc);
    for (int64_t t = 0; t < group; ++t) out[(t0 + t) * out_stride] = static_cast<float>(acc[t]);
  }
}

// One out-of-line function per (type, ISA), each inlining only its own decoder: GCC vectorized
// the decoders far worse when all 13 were inlined into one function.
template <class Decoder>
void DotBatchGeneric(const void* row, const float* x, int64_t n, int64_t n_vectors,
                     int64_t x_stride, float* out, int64_t out_stride) {
  DotBatch<Decoder>(row, x, n, n_vectors, x_stride, out, out_stride);
}

#if defined(__x86_64__)
template <class Decoder>
[[gnu::target("avx2,fma")]] void DotBatchAvx2Fma(const void* row, const float* x, int64_t n,
                                                 int64_t n_vectors, int64_t x_stride, float* out,
                                                 int64_t out_stride) {
  DotBatch<Decoder>(row, x, n, n_vectors, x_stride, out, out_stride);
}
#endif

using DotBatchFn = void (*)(const void*, const float*, int64_t, int64_t, int64_t, float*, int64_t);

template <class Decoder>
DotBatchFn KernelForIsa(DotIsa isa) {
#if defined(__x86_64__)
  if (isa == DotIsa::kAvx2Fma) return &DotBatchAvx2Fma<Decoder>;
#endif
  return &DotBatchGeneric<Decoder>;
}

// The kernel for `type` built for `isa`; nullptr for a type the quant kernels do not support.
DotBatchFn KernelFor(DotIsa isa, GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return KernelForIsa<F32Decoder>(isa);
    case GgmlType::kF16:
      return KernelForIsa<F16Decoder>(isa);
    case GgmlType::kBF16:
      return KernelForIsa<Bf16Decoder>(isa);
    case GgmlType::kQ8_0:
      return KernelForIsa<Q8_0Decoder>(isa);
    case GgmlType::kQ4_0:
      return KernelForIsa<Q4_0Decoder>(isa);
    case GgmlType::kQ4_1:
      return KernelForIsa<Q4_1Decoder>(isa);
    case GgmlType::kQ5_0:
      return KernelForIsa<Q5_0Decoder>(isa);
    case GgmlType::kQ5_1:
      return KernelForIsa<Q5_1Decoder>(isa);
    case GgmlType::kQ2_K:
      return KernelForIsa<Q2_KDecoder>(isa);
    case GgmlType::kQ3_K:
      return KernelForIsa<Q3_KDecoder>(isa);
    case GgmlType::kQ4_K:
      return KernelForIsa<Q4_KDecoder>(isa);
    case GgmlType::kQ5_K:
      return KernelForIsa<Q5_KDecoder>(isa);
    case GgmlType::kQ6_K:
      return KernelForIsa<Q6_KDecoder>(isa);
    default:
      return nullptr;
  }
}

// Type ids are small (< 64); the table maps each to the selected ISA's kernel.
constexpr uint32_t kMaxTypeId = 64;
using KernelTable = std::array<DotBatchFn, kMaxTypeId>;

const KernelTable& SelectedKernels() {
  static const KernelTable table = [] {
    KernelTable t{};
    const DotIsa isa = SelectedDotIsa();
    for (uint32_t id = 0; id < kMaxTypeId; ++id) t[id] = KernelFor(isa, static_cast<GgmlType>(id));
    return t;
  }();
  return table;
}

void Run(DotBatchFn fn, const void* row, const float* x, int64_t n, int64_t n_vectors,
         int64_t x_stride, float* out, int64_t out_stride) {
  if (fn == nullptr) {  // REQUIRES QuantTypeSupported(type) was violated: no crash, zeros
    for (int64_t t = 0; t < n_vectors; ++t) out[t * out_stride] = 0.0f;
    return;
  }
  fn(row, x, n, n_vectors, x_stride, out, out_stride);
}

DotBatchFn SelectedKernel(GgmlType type) {
  const auto id = static_cast<uint32_t>(type);
  return id < kMaxTypeId ? SelectedKernels()[id] : nullptr;
}

}  // namespace

bool DotIsaAvailable(DotIsa isa) {
  switch (isa) {
    case DotIsa::kGeneric:
      return true;
    case DotIsa::kAvx2Fma:
#if defined(__x86_64__)
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
      return false;
#endif
  }
  return false;
}

DotIsa SelectedDotIsa() {
  return DotIsaAvailable(DotIsa::kAvx2Fma) ? DotIsa::kAvx2Fma : DotIsa::kGeneric;
}

void DotRowBatchWithIsa(DotIsa isa, GgmlType type, const void* row, const float* x, int64_t n,
                        int64_t n_vectors, int64_t x_stride, float* out, int64_t out_stride) {
  Run(KernelFor(isa, type), row, x, n, n_vectors, x_stride, out, out_stride);
}

}  // namespace quant_internal

float DotRow(GgmlType type, const void* row, const float* x, int64_t n) {
  float out;
  quant_internal::Run(quant_internal::SelectedKernel(type), row, x, n, 1, n, &out, 1);
  return out;
}

void DotRowBatch(GgmlType type, const void* row, const float* x, int64_t n, int64_t n_vectors,
                 int64_t x_stride, float* out, int64_t out_stride) {
  quant_internal::Run(quant_internal::SelectedKernel(type), row, x, n, n_vectors, x_stride, out,
                      out_stride);
}

}  // namespace hobbit::kernels
