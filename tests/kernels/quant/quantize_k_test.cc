// K-quant QuantizeRow: round trips through DequantizeRow (itself bit-exact with gguf-py) within
// per-type error bounds, and edge-case blocks stay finite and exact where they should be.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "kernels/quant/dequantize.h"
#include "kernels/quant/quantize.h"

namespace hobbit::kernels {
namespace {

constexpr int64_t kN = 64 * 256;

struct KQuantCase {
  GgmlType type;
  double max_relative_rms;  // bound on rms(x - y) / rms(x) for x ~ N(0, 1)
};

// Bounds ~10% above what this quantizer measures here (Q2_K 0.269, Q3_K 0.144, Q4_K 0.0710,
// Q5_K 0.0357, Q6_K 0.0171), so a regression in the scale search or coding fails the test.
constexpr KQuantCase kCases[] = {
    {GgmlType::kQ2_K, 0.30},  {GgmlType::kQ3_K, 0.16},  {GgmlType::kQ4_K, 0.078},
    {GgmlType::kQ5_K, 0.039}, {GgmlType::kQ6_K, 0.019},
};

std::vector<float> RoundTrip(GgmlType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> bytes(*GgmlRowBytes(static_cast<uint32_t>(type), n));
  std::vector<float> y(n);
  EXPECT_TRUE(QuantizeRow(type, x.data(), bytes.data(), n).ok());
  EXPECT_TRUE(DequantizeRow(type, bytes.data(), y.data(), n).ok());
  return y;
}

double RelativeRms(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0.0, ref = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

TEST(KQuantizeTest, GaussianRoundTripWithinBound) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  std::vector<float> x(kN);
  for (float& v : x) v = normal(rng);
  for (const KQuantCase& c : kCases) {
    const double rms = RelativeRms(x, RoundTrip(c.type, x));
    std::printf("%s relative RMS round-trip error (N(0,1)): %.5f\n", GgmlTypeName(c.type).c_str(),
                rms);
    EXPECT_LE(rms, c.max_relative_rms) << GgmlTypeName(c.type);
  }
}

// Weights in real models have per-row and per-block scale variation; the super-block scales must
// cope with sub-blocks of very different ranges, and with offsets (all-positive blocks).
TEST(KQuantizeTest, VaryingScalesAndOffsetsRoundTripWithinBound) {
  std::mt19937 rng(43);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> log_scale(-3.0f, 3.0f);
  std::vector<float> x(kN);
  for (int64_t s = 0; s < kN / 16; ++s) {
    const float scale = std::exp2(log_scale(rng));
    const float offset = (s % 5 == 0) ? 2.0f * scale : 0.0f;
    for (int64_t i = 0; i < 16; ++i) x[16 * s + i] = offset + scale * normal(rng);
  }
  for (const KQuantCase& c : kCases) {
    const double rms = RelativeRms(x, RoundTrip(c.type, x));
    std::printf("%s relative RMS round-trip error (varying scales): %.5f\n",
                GgmlTypeName(c.type).c_str(), rms);
    EXPECT_LE(rms, c.max_relative_rms) << GgmlTypeName(c.type);
  }
}

TEST(KQuantizeTest, EdgeCaseBlocksDecodeFinite) {
  std::vector<float> x(5 * 256, 0.0f);                      // block 0: zeros
  for (int i = 256; i < 512; ++i) x[i] = 3.25f;             // block 1: constant
  for (int i = 512; i < 768; ++i) x[i] = 1e-30f * (i % 7);  // block 2: far below fp16 range
  for (int i = 768; i < 1024; ++i) x[i] = (i % 2 ? 3e38f : -3e38f);         // block 3: far above it
  for (int i = 1024; i < 1280; ++i) x[i] = (i % 16 == 0) ? 100.0f : 0.01f;  // block 4: outliers
  for (const KQuantCase& c : kCases) {
    SCOPED_TRACE(GgmlTypeName(c.type));
    const std::vector<float> y = RoundTrip(c.type, x);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << "element " << i;
    for (int i = 0; i < 256; ++i) ASSERT_EQ(y[i], 0.0f);
    for (int i = 256; i < 512; ++i) ASSERT_NEAR(y[i], 3.25f, 3.25f * 0.05f);
    for (int i = 512; i < 768; ++i) ASSERT_NEAR(y[i], 0.0f, 1e-7f);
    for (int i = 1024; i < 1280; i += 16) ASSERT_NEAR(y[i], 100.0f, 100.0f * 0.1f);
  }
}

}  // namespace
}  // namespace hobbit::kernels
