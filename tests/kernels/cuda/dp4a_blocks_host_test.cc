// The weight-block dot products of the CUDA decode kernels (kernels/cuda/internal/dp4a_blocks.cuh),
// compiled as host C++ with the CUDA intrinsics they use emulated, against the CPU
// dequantizer (kernels/quant) on random rows: every part of every block, blocks at each alignment
// a row can put them at. Runs without a GPU (in CI), so a layout slip in a new block type shows
// before the GPU suite runs; the GPU suite checks the kernels themselves.
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "kernels/quant/dequantize.h"
#include "kernels/quant/quantize.h"

// Host stand-ins for the device intrinsics dp4a_blocks.cuh calls (same results bit for bit; the
// mixed-sign dp4a, which has no intrinsic, has its host form in the header).
template <class T>
static T __ldg(const T* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
static int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; ++i) c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
  return c;
}
static unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned shift) {
  return static_cast<unsigned>(((static_cast<uint64_t>(hi) << 32) | lo) >> (shift & 31));
}
static unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const uint64_t bytes = (static_cast<uint64_t>(y) << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<unsigned>((bytes >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
}
static float __uint_as_float(unsigned bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}
static float __int_as_float(int bits) { return __uint_as_float(static_cast<unsigned>(bits)); }
using std::fmaf;

// The header's `#pragma unroll` lines mean nothing to the host compiler (-Wno-unknown-pragmas in
// CMakeLists.txt: GCC cannot silence that warning from inside the file).
#include "kernels/cuda/internal/dp4a_blocks.cuh"

namespace hobbit::kernels::cuda_internal {
namespace {

// Activations quantized as QuantizeXKernel does: levels round(x / dx), dx = max|x| / 127 per 32,
// records {dx, dx * sum of levels 0..15, dx * sum of levels 16..31}; `dequantized` gets q * dx.
void QuantizeActivations(const std::vector<float>& x, std::vector<int8_t>& q, std::vector<float4>& m,
                         std::vector<float>& dequantized) {
  const size_t n = x.size();
  q.assign(n, 0);
  m.assign(n / 32, float4{});
  dequantized.assign(n, 0.0f);
  for (size_t b = 0; b < n / 32; ++b) {
    float amax = 0.0f;
    for (int l = 0; l < 32; ++l) amax = std::fmax(amax, std::fabs(x[b * 32 + l]));
    const float d = amax / 127.0f;
    int s0 = 0, s1 = 0;
    for (int l = 0; l < 32; ++l) {
      const int level = amax > 0.0f ? static_cast<int>(std::nearbyint(x[b * 32 + l] / d)) : 0;
      q[b * 32 + l] = static_cast<int8_t>(level);
      dequantized[b * 32 + l] = static_cast<float>(level) * d;
      (l < 16 ? s0 : s1) += level;
    }
    m[b] = make_float4(d, d * static_cast<float>(s0), d * static_cast<float>(s1), 0.0f);
  }
}

class Dp4aBlocksHostTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(Dp4aBlocksHostTest, PartsSumToTheDequantizedDot) {
  const GgmlType type = GetParam();
  std::mt19937 rng(20261128);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  bool known = false;
  DispatchDotType(type, [&](auto dot) {
    using T = decltype(dot);
    known = true;
    // Three blocks: with odd block sizes the middle one sits at 2 mod 4 (the row starts aligned).
    const int64_t n = 3 * T::kBlockElems;
    const int64_t row_bytes = *GgmlRowBytes(static_cast<uint32_t>(type), n);
    std::vector<float> w(n), x(n), w_dequantized(n);
    for (float& v : w) v = normal(rng);
    for (float& v : x) v = normal(rng);
    // 16-byte aligned, with room past the end: LoadWords may read two bytes past a span that ends
    // at 2 mod 4 (in the kernel, never past W because rows are multiples of 4 bytes).
    std::vector<uint4> storage(static_cast<size_t>(row_bytes + 32) / sizeof(uint4) + 1);
    auto* row = reinterpret_cast<uint8_t*>(storage.data());
    ASSERT_TRUE(QuantizeRow(type, w.data(), row, n).ok());
    ASSERT_TRUE(DequantizeRow(type, row, w_dequantized.data(), n).ok());
    std::vector<int8_t> xq;
    std::vector<float4> xm;
    std::vector<float> x_dequantized;
    QuantizeActivations(x, xq, xm, x_dequantized);
    const std::vector<float>& xv = T::kInt8 ? x_dequantized : x;
    double want = 0.0, magnitude = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      want += static_cast<double>(w_dequantized[i]) * xv[i];
      magnitude += std::fabs(static_cast<double>(w_dequantized[i]) * xv[i]);
    }
    double got = 0.0;
    for (int64_t block = 0; block < n / T::kBlockElems; ++block) {
      const int64_t e = block * T::kBlockElems;
      const XBlocks xb{xq.data() + e, xm.data() + e / 32, x.data() + e};
      for (int sub = 0; sub < T::kSubs; ++sub) {
        typename T::Part part;
        T::Load(row + block * T::kBlockBytes, sub, part);
        got += T::Dot(part, sub, xb);
      }
    }
    EXPECT_LT(std::fabs(got - want), 1e-5 * magnitude) << GgmlTypeName(type) << ": " << got << " vs " << want;
  });
  EXPECT_TRUE(known) << GgmlTypeName(type);
}

INSTANTIATE_TEST_SUITE_P(Types, Dp4aBlocksHostTest,
                         ::testing::Values(GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                                           GgmlType::kQ5_1, GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                                           GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kF16, GgmlType::kBF16,
                                           GgmlType::kF32),
                         [](const auto& info) { return GgmlTypeName(info.param); });

}  // namespace
}  // namespace hobbit::kernels::cuda_internal
