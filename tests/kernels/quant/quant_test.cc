// DequantizeRow and QuantizeRow against gguf-py (the committed reference fixture), and the
// argument checks of both.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "kernels/quant/dequantize.h"
#include "kernels/quant/quant_types.h"
#include "kernels/quant/quantize.h"
#include "quant_reference.h"

namespace hobbit::kernels {
namespace {

using ::testing::HasSubstr;
using Kind = QuantReferenceRecord::Kind;

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

const std::vector<QuantReferenceRecord>& Records() {
  static const auto* records = [] {
    auto loaded = LoadQuantReference(QuantReferencePath());
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return new std::vector<QuantReferenceRecord>(loaded.ok() ? *std::move(loaded)
                                                             : std::vector<QuantReferenceRecord>{});
  }();
  return *records;
}

TEST(QuantTypesTest, SupportsExactlyTheThirteenTypes) {
  int supported = 0;
  for (uint32_t id = 0; id < 64; ++id) supported += QuantTypeSupported(static_cast<GgmlType>(id));
  EXPECT_EQ(supported, 13);
  EXPECT_TRUE(QuantTypeSupported(GgmlType::kQ6_K));
  EXPECT_FALSE(QuantTypeSupported(GgmlType::kQ8_1));
  EXPECT_FALSE(QuantTypeSupported(GgmlType::kQ8_K));
}

TEST(QuantReferenceTest, FixtureCoversEveryType) {
  int dequant = 0, quant = 0;
  for (const auto& rec : Records()) (rec.kind == Kind::kDequantize ? dequant : quant)++;
  EXPECT_EQ(dequant, 13);  // every supported type
  EXPECT_EQ(quant, 7);     // Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16
}

// Bit-exact: the decoders do gguf-py's float operations in gguf-py's order, without contraction.
TEST(QuantReferenceTest, DequantizeRowMatchesGgufBitExactly) {
  for (const auto& rec : Records()) {
    if (rec.kind != Kind::kDequantize) continue;
    SCOPED_TRACE(GgmlTypeName(rec.type));
    ASSERT_TRUE(QuantTypeSupported(rec.type));
    ASSERT_EQ(static_cast<int64_t>(rec.bytes.size()),
              *GgmlRowBytes(static_cast<uint32_t>(rec.type), rec.n));
    std::vector<float> out(rec.n, -1.0f);
    ASSERT_TRUE(DequantizeRow(rec.type, rec.bytes.data(), out.data(), rec.n).ok());
    int mismatches = 0;
    for (int64_t i = 0; i < rec.n; ++i) {
      if (Bits(out[i]) != Bits(rec.floats[i]) && ++mismatches <= 5) {
        ADD_FAILURE() << "element " << i << ": got " << out[i] << " want " << rec.floats[i];
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST(QuantReferenceTest, DequantizeRowAcceptsUnalignedSource) {
  for (const auto& rec : Records()) {
    if (rec.kind != Kind::kDequantize) continue;
    SCOPED_TRACE(GgmlTypeName(rec.type));
    std::vector<uint8_t> shifted(rec.bytes.size() + 1);
    std::memcpy(shifted.data() + 1, rec.bytes.data(), rec.bytes.size());
    std::vector<float> out(rec.n);
    ASSERT_TRUE(DequantizeRow(rec.type, shifted.data() + 1, out.data(), rec.n).ok());
    EXPECT_EQ(std::memcmp(out.data(), rec.floats.data(), out.size() * sizeof(float)), 0);
  }
}

TEST(QuantReferenceTest, QuantizeRowMatchesGgufBitExactly) {
  for (const auto& rec : Records()) {
    if (rec.kind != Kind::kQuantize) continue;
    SCOPED_TRACE(GgmlTypeName(rec.type));
    std::vector<uint8_t> out(rec.bytes.size(), 0xAB);
    ASSERT_TRUE(QuantizeRow(rec.type, rec.floats.data(), out.data(), rec.n).ok());
    int mismatches = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] != rec.bytes[i] && ++mismatches <= 5) {
        ADD_FAILURE() << "byte " << i << ": got " << int{out[i]} << " want " << int{rec.bytes[i]};
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST(QuantRowChecksTest, RejectsUnsupportedTypesNamingTypeAndN) {
  float x[32] = {};
  uint8_t bytes[64] = {};
  for (GgmlType type :
       {GgmlType::kQ8_1, GgmlType::kQ8_K, GgmlType::kI32, static_cast<GgmlType>(99)}) {
    const std::string name = GgmlTypeName(type);
    absl::Status s = DequantizeRow(type, bytes, x, 32);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(s.message(), HasSubstr(name));
    EXPECT_THAT(s.message(), HasSubstr("n = 32"));
    s = QuantizeRow(type, x, bytes, 32);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(s.message(), HasSubstr(name));
    EXPECT_THAT(s.message(), HasSubstr("n = 32"));
  }
}

TEST(QuantRowChecksTest, RejectsPartialBlocksNamingTypeAndN) {
  std::vector<float> x(512);
  std::vector<uint8_t> bytes(1024, 0x5A);
  const std::vector<uint8_t> untouched = bytes;
  for (auto [type, n] :
       {std::pair{GgmlType::kQ4_0, int64_t{100}}, std::pair{GgmlType::kQ4_K, int64_t{288}},
        std::pair{GgmlType::kQ8_0, int64_t{-32}}}) {
    const std::string name = GgmlTypeName(type);
    absl::Status s = DequantizeRow(type, bytes.data(), x.data(), n);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(name));
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("n = ", n)));
    s = QuantizeRow(type, x.data(), bytes.data(), n);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(name));
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("n = ", n)));
  }
  EXPECT_EQ(bytes, untouched);
}

TEST(QuantRowChecksTest, RejectsNullPointersAndAcceptsEmptyRows) {
  float x[32] = {};
  EXPECT_EQ(DequantizeRow(GgmlType::kQ8_0, nullptr, x, 32).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(GgmlType::kQ8_0, x, nullptr, 32).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(DequantizeRow(GgmlType::kQ4_K, nullptr, nullptr, 0).ok());
  EXPECT_TRUE(QuantizeRow(GgmlType::kQ4_K, nullptr, nullptr, 0).ok());
}

TEST(QuantRowChecksTest, BlockTypesRejectNonFiniteInputPlainTypesKeepIt) {
  std::vector<float> x(256, 1.0f);
  x[77] = std::nanf("");
  std::vector<uint8_t> bytes(1024);
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ5_1, GgmlType::kQ3_K, GgmlType::kQ6_K}) {
    const absl::Status s = QuantizeRow(type, x.data(), bytes.data(), 256);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("src[77]"));
    EXPECT_THAT(s.message(), HasSubstr(GgmlTypeName(type)));
  }
  x[78] = INFINITY;
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    ASSERT_TRUE(QuantizeRow(type, x.data(), bytes.data(), 256).ok());
    std::vector<float> back(256);
    ASSERT_TRUE(DequantizeRow(type, bytes.data(), back.data(), 256).ok());
    EXPECT_TRUE(std::isnan(back[77])) << GgmlTypeName(type);
    EXPECT_EQ(back[78], INFINITY) << GgmlTypeName(type);
    EXPECT_EQ(back[0], 1.0f) << GgmlTypeName(type);
  }
}

// The 32-element types are ggml's reference quantizers: a round trip is off by at most one step
// (half a step from rounding, up to a full step where Q4_0/Q5_0 clip the +amax side).
TEST(QuantizeRowTest, BlockTypesRoundTripWithinOneStep) {
  std::vector<float> x(1024);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + (i % 97));
  for (auto [type, levels] : {std::pair{GgmlType::kQ8_0, 254.0f}, std::pair{GgmlType::kQ4_0, 15.0f},
                              std::pair{GgmlType::kQ4_1, 15.0f}, std::pair{GgmlType::kQ5_0, 31.0f},
                              std::pair{GgmlType::kQ5_1, 31.0f}}) {
    SCOPED_TRACE(GgmlTypeName(type));
    std::vector<uint8_t> bytes(*GgmlRowBytes(static_cast<uint32_t>(type), 1024));
    std::vector<float> y(1024);
    ASSERT_TRUE(QuantizeRow(type, x.data(), bytes.data(), 1024).ok());
    ASSERT_TRUE(DequantizeRow(type, bytes.data(), y.data(), 1024).ok());
    for (int b = 0; b < 32; ++b) {
      float lo = x[32 * b], hi = x[32 * b];
      for (int j = 0; j < 32; ++j)
        lo = std::fmin(lo, x[32 * b + j]), hi = std::fmax(hi, x[32 * b + j]);
      // Symmetric types span [-amax, amax]; fp16 rounding of d and m adds a little.
      const float span = std::fmax(hi - lo, 2.0f * std::fmax(std::fabs(lo), std::fabs(hi)));
      const float tolerance = span / levels * 1.01f;
      for (int j = 0; j < 32; ++j)
        ASSERT_NEAR(y[32 * b + j], x[32 * b + j], tolerance) << "block " << b;
    }
  }
}

}  // namespace
}  // namespace hobbit::kernels
