// DotRow / DotRowBatch (every ISA variant this CPU has) against the dot product of the
// gguf-py-decoded row with x, computed in double.
#include "kernels/quant/dot.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/half.h"
#include "kernels/quant/internal/block_decoders.h"
#include "kernels/quant/internal/dot_isa.h"
#include "quant_reference.h"

namespace hobbit::kernels {
namespace {

using quant_internal::DotIsa;

constexpr double kRelativeTolerance = 1e-5;

std::vector<DotIsa> AvailableIsas() {
  std::vector<DotIsa> isas;
  for (DotIsa isa : {DotIsa::kGeneric, DotIsa::kAvx2Fma}) {
    if (quant_internal::DotIsaAvailable(isa)) isas.push_back(isa);
  }
  return isas;
}

const char* IsaName(DotIsa isa) { return isa == DotIsa::kGeneric ? "generic" : "avx2+fma"; }

std::vector<QuantReferenceRecord> DequantRecords() {
  auto records = LoadQuantReference(QuantReferencePath());
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<QuantReferenceRecord> out;
  if (!records.ok()) return out;
  for (auto& rec : *records) {
    if (rec.kind != QuantReferenceRecord::Kind::kDequantize) continue;
    // The plain-type rows are random bit patterns (inf, 1e38, ...) whose products overflow;
    // zero those elements (all-zero bytes encode 0.0 in F32, F16 and BF16).
    const int64_t elem_bytes = GetGgmlTypeTraits(static_cast<uint32_t>(rec.type))->block_bytes;
    if (GetGgmlTypeTraits(static_cast<uint32_t>(rec.type))->block_size == 1) {
      for (int64_t i = 0; i < rec.n; ++i) {
        if (!(std::fabs(rec.floats[i]) <= 1e4f)) {
          rec.floats[i] = 0.0f;
          std::memset(rec.bytes.data() + i * elem_bytes, 0, elem_bytes);
        }
      }
    }
    out.push_back(std::move(rec));
  }
  return out;
}

struct Reference {
  double dot;
  double abs_sum;  // sum |w_i x_i|: the scale of the rounding error
};

Reference ReferenceDot(const float* w, const float* x, int64_t n) {
  Reference r{0.0, 0.0};
  for (int64_t i = 0; i < n; ++i) {
    r.dot += static_cast<double>(w[i]) * x[i];
    r.abs_sum += std::fabs(static_cast<double>(w[i]) * x[i]);
  }
  return r;
}

void ExpectClose(float got, Reference want) {
  EXPECT_LE(std::fabs(got - want.dot), kRelativeTolerance * want.abs_sum + 1e-30)
      << "got " << got << " want " << want.dot << " (sum |w x| = " << want.abs_sum << ")";
}

// Row lengths that are prefixes of the fixture row: one block, a few blocks (not a multiple of
// the 256-element decode chunk), 1408 (the DeepSeek/Qwen MoE width), and the whole row.
std::vector<int64_t> TestLengths(GgmlType type, int64_t full) {
  const int64_t block = GetGgmlTypeTraits(static_cast<uint32_t>(type))->block_size;
  std::vector<int64_t> lengths = {block, 7 * block, full};
  if (block == 1) lengths.push_back(1001);
  if (1408 % block == 0 && 1408 < full) lengths.push_back(1408);
  return lengths;
}

TEST(DotRowTest, MatchesDotOfDequantizedRow) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (const auto& rec : DequantRecords()) {
    std::vector<float> x(rec.n);
    for (float& v : x) v = normal(rng);
    // The row at an odd address: blocks in GGUF files are not aligned to their fields.
    std::vector<uint8_t> shifted(rec.bytes.size() + 1);
    std::memcpy(shifted.data() + 1, rec.bytes.data(), rec.bytes.size());
    for (int64_t n : TestLengths(rec.type, rec.n)) {
      SCOPED_TRACE(GgmlTypeName(rec.type) + " n=" + std::to_string(n));
      const Reference want = ReferenceDot(rec.floats.data(), x.data(), n);
      ExpectClose(DotRow(rec.type, shifted.data() + 1, x.data(), n), want);
      for (DotIsa isa : AvailableIsas()) {
        SCOPED_TRACE(IsaName(isa));
        float got = 0.0f;
        quant_internal::DotRowBatchWithIsa(isa, rec.type, shifted.data() + 1, x.data(), n, 1, n,
                                           &got, 1);
        ExpectClose(got, want);
      }
    }
  }
}

TEST(DotRowTest, BatchMatchesReferenceAndDotRowBitExactly) {
  constexpr int64_t kVectors = 11;  // more than one group of 8
  constexpr int64_t kOutStride = 3;
  std::mt19937 rng(8);
  std::normal_distribution<float> normal;
  for (const auto& rec : DequantRecords()) {
    const int64_t n = rec.n;
    const int64_t x_stride = n + 5;
    std::vector<float> x(kVectors * x_stride);
    for (float& v : x) v = normal(rng);
    for (DotIsa isa : AvailableIsas()) {
      SCOPED_TRACE(GgmlTypeName(rec.type) + " " + IsaName(isa));
      std::vector<float> out(kVectors * kOutStride, -7.0f);
      quant_internal::DotRowBatchWithIsa(isa, rec.type, rec.bytes.data(), x.data(), n, kVectors,
                                         x_stride, out.data(), kOutStride);
      for (int64_t t = 0; t < kVectors; ++t) {
        ExpectClose(out[t * kOutStride],
                    ReferenceDot(rec.floats.data(), x.data() + t * x_stride, n));
        float single = 0.0f;
        quant_internal::DotRowBatchWithIsa(isa, rec.type, rec.bytes.data(), x.data() + t * x_stride,
                                           n, 1, n, &single, 1);
        EXPECT_EQ(out[t * kOutStride], single) << "vector " << t;
        EXPECT_EQ(out[t * kOutStride + 1], -7.0f) << "wrote between outputs";
      }
    }
    // The public entry point is the selected variant.
    std::vector<float> out(kVectors);
    DotRowBatch(rec.type, rec.bytes.data(), x.data(), n, kVectors, x_stride, out.data(), 1);
    for (int64_t t = 0; t < kVectors; ++t) {
      EXPECT_EQ(out[t], DotRow(rec.type, rec.bytes.data(), x.data() + t * x_stride, n));
    }
  }
}

TEST(DotRowTest, EmptyRowAndNoVectors) {
  const uint8_t row[1] = {0};
  const float x[1] = {1.0f};
  EXPECT_EQ(DotRow(GgmlType::kQ4_K, row, x, 0), 0.0f);
  float out = 5.0f;
  DotRowBatch(GgmlType::kQ8_0, row, x, 0, 0, 0, &out, 1);
  EXPECT_EQ(out, 5.0f);
}

TEST(DotRowTest, SelectsAvx2WhenTheCpuHasIt) {
  EXPECT_TRUE(quant_internal::DotIsaAvailable(DotIsa::kGeneric));
  EXPECT_EQ(quant_internal::SelectedDotIsa(), quant_internal::DotIsaAvailable(DotIsa::kAvx2Fma)
                                                  ? DotIsa::kAvx2Fma
                                                  : DotIsa::kGeneric);
}

// The dot path's branch-free fp16 decoder against half.h's, on every bit pattern.
TEST(HalfDecodeTest, VectorizableF16DecodeMatchesF16ToF32OnAllInputs) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = F16ToF32(static_cast<uint16_t>(h));
    const float b = quant_internal::F16ToF32Vectorizable(static_cast<uint16_t>(h));
    uint32_t abits, bbits;
    std::memcpy(&abits, &a, 4);
    std::memcpy(&bbits, &b, 4);
    ASSERT_EQ(abits, bbits) << "h = " << h;
  }
}

}  // namespace
}  // namespace hobbit::kernels
