// MatMul and GetRows of the CUDA backend against the CPU backend (kernels/cpu QuantMatMul and
// kernels/quant DequantizeRow) for every supported weight type, at the real Mixtral and
// Qwen3-MoE expert shapes and at odd ones, on fresh random weights and inputs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/base/ggml_type.h"
#include "kernels/base/half.h"
#include "kernels/cuda/f16_operands.h"
#include "kernels/cuda/quant_matvec.h"
#include "kernels/quant/dequantize.h"
#include "kernels/quant/quantize.h"
#include "tests/kernels/cuda/cuda_twin_test.h"

namespace hobbit::runtime {
namespace {

using kernels::GgmlType;

// Whether a product takes the QuantMatVec fast path for these types, which quantizes the
// activations to int8 blocks of 32 as llama.cpp does: W and row_bytes multiples of 4 bytes (16
// for Q4_K/Q5_K), up to 8 tokens — or up to 16 in two passes (CudaBackend::MatMul).
bool TakesInt8Path(GgmlType type, int64_t cols, int32_t n_tokens, int misalign) {
  if (n_tokens > 2 * kernels::kQuantMatVecMaxTokens) return false;
  const int64_t row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(type), cols);
  switch (type) {
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ6_K:
      return misalign % 4 == 0 && row_bytes % 4 == 0;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
      return misalign % 16 == 0 && row_bytes % 16 == 0;
    default:
      return false;
  }
}

// Both backends decode the same weights exactly; with float activations the products differ only
// in float32 summation order (and cuBLAS's blocking on the prefill path), a few ulps of the row
// norm. Int8 activations (round(x / dx), dx = max|x| / 127 per 32) move each activation by up to
// dx / 2, a relative error of the product of about 0.5 % for normal weights and inputs (numpy
// simulation at 96..14336 columns: 5.0e-3 .. 5.5e-3; measured on the H200 over these tests:
// 5.0e-3 .. 6.5e-3, printed per shape); the bound leaves a margin of 1.7x.
double MatMulTolerance(GgmlType type, bool int8_path) {
  if (int8_path) return 1.1e-2;
  switch (type) {
    case GgmlType::kF32:
      return 1e-5;  // no decode at all
    default:
      return 2e-5;
  }
}

// A rows x cols matrix of random rows quantized to `type`. Quantizing every row of the real
// shapes would take seconds per K-quant type, so rows come from a pool of 61 distinct random
// rows, taken in turn (neighbouring rows always differ).
std::vector<uint8_t> RandomWeight(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const int64_t row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(type), cols);
  const int64_t pool_rows = std::min<int64_t>(rows, 61);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint8_t> pool(pool_rows * row_bytes);
  std::vector<float> row(cols);
  for (int64_t i = 0; i < pool_rows; ++i) {
    for (auto& v : row) v = dist(rng);
    EXPECT_TRUE(kernels::QuantizeRow(type, row.data(), pool.data() + i * row_bytes, cols).ok());
  }
  std::vector<uint8_t> w(rows * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(w.data() + r * row_bytes, pool.data() + (r % pool_rows) * row_bytes, row_bytes);
  }
  return w;
}

class CudaQuantOpsTest : public CudaTwinTest, public ::testing::WithParamInterface<GgmlType> {
 protected:
  // Uploads `bytes` to both backends; the CUDA copy starts `misalign` bytes into its buffer.
  struct Weight {
    WeightView cpu, gpu;
    std::unique_ptr<DeviceBuffer> gpu_buffer;  // only for misaligned copies
  };
  Weight Upload(GgmlType type, int64_t rows, int64_t cols, const std::vector<uint8_t>& bytes, int misalign) {
    Weight w;
    WeightView host{.type = static_cast<uint32_t>(type), .rows = rows, .cols = cols,
                    .row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(type), cols), .data = bytes.data()};
    w.cpu = *cpu_->UploadWeight(host, "w");
    if (misalign == 0) {
      w.gpu = *gpu_->UploadWeight(host, "w");
    } else {
      w.gpu_buffer = *gpu_->Allocate(bytes.size() + misalign, "misaligned weight");
      auto* dst = static_cast<uint8_t*>(w.gpu_buffer->data()) + misalign;
      EXPECT_TRUE(gpu_->CopyToDevice(dst, bytes.data(), bytes.size()).ok());
      w.gpu = host;
      w.gpu.data = dst;
    }
    return w;
  }

  void CheckMatMul(int64_t rows, int64_t cols, const std::vector<int32_t>& token_counts, int misalign = 0) {
    const GgmlType type = GetParam();
    const std::vector<uint8_t> bytes = RandomWeight(type, rows, cols, rng_);
    Weight w = Upload(type, rows, cols, bytes, misalign);
    double max_int8_err = 0.0;
    for (int32_t n : token_counts) {
      TwinBuffer x = Twin(RandomFloats(static_cast<size_t>(n) * cols));
      TwinBuffer y = Empty(sizeof(float) * n * rows);
      ASSERT_TRUE(cpu_->MatMul(w.cpu, x.c<float>(), n, y.c<float>()).ok());
      ASSERT_TRUE(gpu_->MatMul(w.gpu, x.g<float>(), n, y.g<float>()).ok());
      const double err = RelativeError(Download<float>(y), CpuCopy<float>(y));
      const bool int8_path = TakesInt8Path(type, cols, n, misalign);
      EXPECT_LT(err, MatMulTolerance(type, int8_path))
          << kernels::GgmlTypeName(type) << " " << rows << "x" << cols << " by " << n << " tokens, misaligned by "
          << misalign;
      if (int8_path) max_int8_err = std::max(max_int8_err, err);
    }
    if (max_int8_err > 0.0) {
      std::printf("matmul int8 path relative error %s %lldx%lld: %.3g\n", kernels::GgmlTypeName(type).c_str(),
                  static_cast<long long>(rows), static_cast<long long>(cols), max_int8_err);
    }
  }
};

TEST_P(CudaQuantOpsTest, MatMulRealShapes) {
  CheckMatMul(14336, 4096, {1, 8});
  CheckMatMul(4096, 14336, {1, 3});
}

TEST_P(CudaQuantOpsTest, MatMulExpertShapesDecodeAndPrefill) {
  CheckMatMul(768, 2048, {1, 2, 5, 8, 9, 16, 17, 40});
  CheckMatMul(2048, 768, {1, 4, 8, 33});
}

TEST_P(CudaQuantOpsTest, MatMulOddRowsAndMisalignedWeights) {
  const GgmlType type = GetParam();
  const int64_t block = kernels::GetGgmlTypeTraits(static_cast<uint32_t>(type))->block_size;
  const int64_t cols = block == 1 ? 96 : 3 * block;  // rows of 3 blocks: not 16-byte multiples
  CheckMatMul(37, cols, {1, 7, 12});
  // Rows of 2 blocks: the int8 path of Q8_0/Q4_0/Q5_0/Q6_K needs row_bytes % 4 == 0; 37 rows are
  // no multiple of the rows each thread block takes.
  CheckMatMul(37, block == 1 ? 64 : 2 * block, {1, 2, 3, 8});
  const int elem = type == GgmlType::kF32 ? 4 : 2;  // plain types stay element-aligned
  CheckMatMul(37, cols, {1, 6, 11}, /*misalign=*/elem);
  CheckMatMul(5, cols, {1, 9}, /*misalign=*/3 * elem);
}

// MatMuls (q, k and v over one input) quantizes the input once: the same bits as one MatMul
// each, for this type alongside Q8_0 and F32 (which takes the float path in between).
TEST_P(CudaQuantOpsTest, MatMulsEqualOneMatMulEach) {
  const GgmlType type = GetParam();
  for (int64_t cols : {512, 4096}) {
    const std::vector<GgmlType> types = {type, GgmlType::kQ8_0, type, GgmlType::kF32, type};
    const std::vector<int64_t> rows = {1024, 64, 96, 64, 512};
    std::vector<std::vector<uint8_t>> bytes;
    std::vector<Weight> ws;
    for (size_t i = 0; i < types.size(); ++i) {
      bytes.push_back(RandomWeight(types[i], rows[i], cols, rng_));
      ws.push_back(Upload(types[i], rows[i], cols, bytes.back(), 0));
    }
    // A Q8_0 weight the scratch is filled from before each MatMuls, so a skipped quantization that
    // read stale levels could not pass by chance.
    const std::vector<uint8_t> other_bytes = RandomWeight(GgmlType::kQ8_0, 32, cols, rng_);
    Weight other = Upload(GgmlType::kQ8_0, 32, cols, other_bytes, 0);
    for (int32_t n : {1, 3, 8, 12}) {  // 12: the matrix-vector kernel's two passes
      const int64_t kCols = cols;
      TwinBuffer x = Twin(RandomFloats(static_cast<size_t>(n) * kCols));
      TwinBuffer other_x = Twin(RandomFloats(static_cast<size_t>(n) * kCols));
      TwinBuffer other_y = Empty(sizeof(float) * n * 32);
      std::vector<TwinBuffer> one, many;
      std::vector<const WeightView*> views;
      std::vector<float*> outs;
      for (size_t i = 0; i < types.size(); ++i) {
        one.push_back(Empty(sizeof(float) * n * rows[i]));
        many.push_back(Empty(sizeof(float) * n * rows[i]));
      }
      for (size_t i = 0; i < types.size(); ++i) {
        ASSERT_TRUE(gpu_->MatMul(ws[i].gpu, x.g<float>(), n, one[i].g<float>()).ok());
        views.push_back(&ws[i].gpu);
        outs.push_back(many[i].g<float>());
      }
      ASSERT_TRUE(gpu_->MatMul(other.gpu, other_x.g<float>(), n, other_y.g<float>()).ok());
      ASSERT_TRUE(gpu_->MatMuls(views, x.g<float>(), n, outs).ok());
      for (size_t i = 0; i < types.size(); ++i) {
        EXPECT_EQ(Download<float>(many[i]), Download<float>(one[i]))
            << kernels::GgmlTypeName(types[i]) << " (product " << i << "), " << n << " tokens, " << cols << " columns";
      }
    }
  }
  // Products over one input have one width.
  const std::vector<uint8_t> a = RandomWeight(GgmlType::kQ8_0, 32, 512, rng_);
  const std::vector<uint8_t> b = RandomWeight(GgmlType::kQ8_0, 32, 1024, rng_);
  Weight wa = Upload(GgmlType::kQ8_0, 32, 512, a, 0), wb = Upload(GgmlType::kQ8_0, 32, 1024, b, 0);
  TwinBuffer x = Twin(RandomFloats(1024)), ya = Empty(32 * sizeof(float)), yb = Empty(32 * sizeof(float));
  const WeightView* mixed[] = {&wa.gpu, &wb.gpu};
  float* mixed_out[] = {ya.g<float>(), yb.g<float>()};
  EXPECT_FALSE(gpu_->MatMuls(mixed, x.g<float>(), 1, mixed_out).ok());
}

// MatMulAdd (the product added into y in its own kernel where it can) equals MatMul into a
// temporary and Add, bit for bit, on every path: decode sizes and a prefill size.
TEST_P(CudaQuantOpsTest, MatMulAddEqualsMatMulThenAdd) {
  const GgmlType type = GetParam();
  const int64_t rows = 96, cols = 512;
  const std::vector<uint8_t> bytes = RandomWeight(type, rows, cols, rng_);
  Weight w = Upload(type, rows, cols, bytes, 0);
  for (int32_t n : {1, 3, 8, 9}) {
    TwinBuffer x = Twin(RandomFloats(size_t{1} * n * cols));
    const std::vector<float> start = RandomFloats(size_t{1} * n * rows);
    TwinBuffer want = Twin(start), got = Twin(start);
    TwinBuffer tmp = Empty(sizeof(float) * n * rows), tmp2 = Empty(sizeof(float) * n * rows);
    ASSERT_TRUE(gpu_->MatMul(w.gpu, x.g<float>(), n, tmp.g<float>()).ok());
    ASSERT_TRUE(gpu_->Add(want.g<float>(), tmp.g<float>(), int64_t{n} * rows).ok());
    ASSERT_TRUE(gpu_->MatMulAdd(w.gpu, x.g<float>(), n, tmp2.g<float>(), got.g<float>()).ok());
    EXPECT_EQ(Download<float>(got), Download<float>(want)) << kernels::GgmlTypeName(type) << ", " << n << " tokens";
  }
}

// RmsNormForProducts (the norm's kernel also quantizes its output for the products that follow):
// its output is RmsNorm's up to summation order, and the products over it equal, bit for bit, the
// products over the same values written by a copy (which quantize them themselves). A write to the
// output in between makes the products quantize again.
TEST_P(CudaQuantOpsTest, NormForProductsFeedsTheProducts) {
  const GgmlType type = GetParam();
  const int64_t dim = 512;
  const std::vector<uint8_t> b1 = RandomWeight(type, 96, dim, rng_), b2 = RandomWeight(GgmlType::kQ8_0, 64, dim, rng_);
  Weight w1 = Upload(type, 96, dim, b1, 0), w2 = Upload(GgmlType::kQ8_0, 64, dim, b2, 0);
  TwinBuffer norm_w = Twin(RandomFloats(dim));
  for (int32_t n : {1, 3, 8}) {
    TwinBuffer x = Twin(RandomFloats(size_t{1} * n * dim)), other = Twin(RandomFloats(size_t{1} * n * dim));
    TwinBuffer plain = Empty(sizeof(float) * n * dim), fused = Empty(sizeof(float) * n * dim);
    TwinBuffer copied = Empty(sizeof(float) * n * dim);
    ASSERT_TRUE(gpu_->RmsNorm(x.g<float>(), norm_w.g<float>(), n, dim, 1e-5f, plain.g<float>()).ok());
    ASSERT_TRUE(gpu_->RmsNormForProducts(x.g<float>(), norm_w.g<float>(), n, dim, 1e-5f, fused.g<float>()).ok());
    const std::vector<float> fused_values = Download<float>(fused);
    EXPECT_LT(RelativeError(fused_values, Download<float>(plain)), 1e-6) << n << " tokens";
    std::vector<TwinBuffer> want, got;
    for (int i = 0; i < 6; ++i) {
      want.push_back(Empty(sizeof(float) * n * 96));
      got.push_back(Empty(sizeof(float) * n * 96));
    }
    const WeightView* both[] = {&w1.gpu, &w2.gpu};
    const auto products = [&](TwinBuffer& h, std::vector<TwinBuffer>& y) {
      float* outs[] = {y[0].g<float>(), y[1].g<float>()};
      ASSERT_TRUE(gpu_->MatMuls(both, h.g<float>(), n, outs).ok());
      ASSERT_TRUE(gpu_->MatMul(w1.gpu, h.g<float>(), n, y[2].g<float>()).ok());
      ASSERT_TRUE(gpu_->Fill(y[3].g<float>(), 1.0f, int64_t{n} * 96).ok());
      ASSERT_TRUE(gpu_->MatMulAdd(w1.gpu, h.g<float>(), n, y[4].g<float>(), y[3].g<float>()).ok());
      // Written in between: the products must see the new values.
      ASSERT_TRUE(gpu_->Add(h.g<float>(), other.g<float>(), int64_t{n} * dim).ok());
      ASSERT_TRUE(gpu_->MatMul(w1.gpu, h.g<float>(), n, y[5].g<float>()).ok());
    };
    products(fused, got);  // right after RmsNormForProducts: the norm's int8 copy
    ASSERT_TRUE(gpu_->CopyToDevice(copied.g<float>(), fused_values.data(), sizeof(float) * fused_values.size()).ok());
    products(copied, want);
    for (int i : {0, 2, 3, 5}) {
      EXPECT_EQ(Download<float>(got[i]), Download<float>(want[i]))
          << kernels::GgmlTypeName(type) << ", " << n << " tokens, output " << i;
    }
    std::vector<float> g1 = Download<float>(got[1]), w1v = Download<float>(want[1]);
    g1.resize(size_t{1} * n * 64);
    w1v.resize(size_t{1} * n * 64);
    EXPECT_EQ(g1, w1v) << n << " tokens, the Q8_0 product";
  }
}

// The norm's int8 copy feeding q, k and v of mixed types on a fresh backend (two grouped in one
// launch, one alone), where the first products also grow the matvec scratch: each product equals
// one MatMul over the same values copied in. (A grouped launch over the copy once marked the
// matvec scratch as holding x, and the lone product read it unwritten.)
TEST_F(CudaTwinTest, NormCopyFeedsGroupedAndLoneProductsOfMixedTypes) {
  const int64_t dim = 512;
  const GgmlType types[] = {GgmlType::kQ4_K, GgmlType::kQ4_K, GgmlType::kQ6_K};
  const int64_t rows[] = {128, 64, 64};
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<WeightView> ws;
  for (int i = 0; i < 3; ++i) {
    bytes.push_back(RandomWeight(types[i], rows[i], dim, rng_));
    const WeightView host{.type = static_cast<uint32_t>(types[i]), .rows = rows[i], .cols = dim,
                          .row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(types[i]), dim),
                          .data = bytes.back().data()};
    ws.push_back(*gpu_->UploadWeight(host, "w"));
  }
  const int32_t n = 1;
  TwinBuffer x = Twin(RandomFloats(size_t{1} * n * dim)), norm_w = Twin(RandomFloats(dim));
  TwinBuffer h = Empty(sizeof(float) * n * dim), copied = Empty(sizeof(float) * n * dim);
  std::vector<TwinBuffer> got, want;
  for (int i = 0; i < 3; ++i) {
    got.push_back(Empty(sizeof(float) * n * rows[i]));
    want.push_back(Empty(sizeof(float) * n * rows[i]));
  }
  ASSERT_TRUE(gpu_->RmsNormForProducts(x.g<float>(), norm_w.g<float>(), n, dim, 1e-5f, h.g<float>()).ok());
  const WeightView* views[] = {&ws[0], &ws[1], &ws[2]};
  float* outs[] = {got[0].g<float>(), got[1].g<float>(), got[2].g<float>()};
  ASSERT_TRUE(gpu_->MatMuls(views, h.g<float>(), n, outs).ok());
  const std::vector<float> values = Download<float>(h);
  ASSERT_TRUE(gpu_->CopyToDevice(copied.g<float>(), values.data(), sizeof(float) * values.size()).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(gpu_->MatMul(ws[i], copied.g<float>(), n, want[i].g<float>()).ok());
    EXPECT_EQ(Download<float>(got[i]), Download<float>(want[i])) << "product " << i;
  }
}

// An int8 copy made while recording belongs to the recording (its kernel has not run): once the
// recording ends, a product over the norm's output quantizes the values that are there.
TEST_F(CudaTwinTest, RecordingDropsTheInt8Copy) {
  const int64_t dim = 512;
  const std::vector<uint8_t> bytes = RandomWeight(GgmlType::kQ8_0, 64, dim, rng_);
  const WeightView w = *gpu_->UploadWeight({.type = static_cast<uint32_t>(GgmlType::kQ8_0), .rows = 64, .cols = dim,
                                            .row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(GgmlType::kQ8_0),
                                                                                dim),
                                            .data = bytes.data()},
                                           "w");
  TwinBuffer x = Twin(RandomFloats(dim)), norm_w = Twin(RandomFloats(dim));
  TwinBuffer h = Twin(RandomFloats(dim)), other = Twin(RandomFloats(dim)), copied = Empty(sizeof(float) * dim);
  TwinBuffer y1 = Empty(sizeof(float) * 64), y2 = Empty(sizeof(float) * 64);
  // The copy's buffer exists before the recording (growing it there would spoil the recording).
  ASSERT_TRUE(gpu_->RmsNormForProducts(x.g<float>(), norm_w.g<float>(), 1, dim, 1e-5f, other.g<float>()).ok());
  ASSERT_TRUE(gpu_->MatMul(w, other.g<float>(), 1, y1.g<float>()).ok());  // grows the matvec scratch
  ASSERT_TRUE(gpu_->BeginRecording().ok());
  ASSERT_TRUE(gpu_->RmsNormForProducts(x.g<float>(), norm_w.g<float>(), 1, dim, 1e-5f, h.g<float>()).ok());
  absl::StatusOr<int64_t> id = gpu_->EndRecording();
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(gpu_->MatMul(w, h.g<float>(), 1, y1.g<float>()).ok());
  const std::vector<float> values = Download<float>(h);  // h as it was: the norm was only recorded
  ASSERT_TRUE(gpu_->CopyToDevice(copied.g<float>(), values.data(), sizeof(float) * dim).ok());
  ASSERT_TRUE(gpu_->MatMul(w, copied.g<float>(), 1, y2.g<float>()).ok());
  EXPECT_EQ(Download<float>(y1), Download<float>(y2));
  gpu_->DropRecording(*id);
}

TEST_P(CudaQuantOpsTest, GetRowsIsBitExact) {
  const GgmlType type = GetParam();
  const int64_t block = kernels::GetGgmlTypeTraits(static_cast<uint32_t>(type))->block_size;
  for (int64_t cols : {block == 1 ? int64_t{100} : 2 * block, int64_t{2048}}) {
    const int64_t rows = 300;
    const std::vector<uint8_t> bytes = RandomWeight(type, rows, cols, rng_);
    Weight w = Upload(type, rows, cols, bytes, 0);
    std::vector<int32_t> ids = {0, 299, 17, 17, 150, 1, 298, 60, 61};
    TwinBuffer out = Empty(sizeof(float) * ids.size() * cols);
    ASSERT_TRUE(cpu_->GetRows(w.cpu, ids.data(), static_cast<int32_t>(ids.size()), out.c<float>()).ok());
    ASSERT_TRUE(gpu_->GetRows(w.gpu, ids.data(), static_cast<int32_t>(ids.size()), out.g<float>()).ok());
    const std::vector<float> got = Download<float>(out);
    const std::vector<float> want = CpuCopy<float>(out);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
        << kernels::GgmlTypeName(type) << " cols " << cols;
    // The same rows with the ids in device memory (a step's uploaded metadata).
    TwinBuffer ids_device = Twin(ids);
    Poison(out);
    ASSERT_TRUE(
        gpu_->GetRowsDevice(w.gpu, ids_device.g<int32_t>(), static_cast<int32_t>(ids.size()), out.g<float>()).ok());
    const std::vector<float> got_device = Download<float>(out);
    EXPECT_EQ(std::memcmp(got_device.data(), want.data(), want.size() * sizeof(float)), 0)
        << kernels::GgmlTypeName(type) << " cols " << cols << ", device ids";
  }
}

// tf32_prefill: products of more than 8 tokens (cuBLAS on dequantized tiles) in TF32 stay
// within the int8 path's bound of the CPU backend.
TEST_F(CudaTwinTest, Tf32PrefillProductsStayClose) {
  auto tf32 = CudaBackend::Create({.prefill_precision = PrefillPrecision::kTf32});
  ASSERT_TRUE(tf32.ok()) << tf32.status();
  gpu_ = std::move(*tf32);
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kF32}) {
    constexpr int64_t kRows = 1024, kCols = 4096;
    const std::vector<uint8_t> bytes = RandomWeight(type, kRows, kCols, rng_);
    const WeightView host{.type = static_cast<uint32_t>(type), .rows = kRows, .cols = kCols,
                          .row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(type), kCols), .data = bytes.data()};
    const WeightView wc = *cpu_->UploadWeight(host, "w"), wg = *gpu_->UploadWeight(host, "w");
    for (int32_t n : {17, 64}) {  // over 16 tokens: not the matrix-vector kernel's two passes
      TwinBuffer x = Twin(RandomFloats(static_cast<size_t>(n) * kCols));
      TwinBuffer y = Empty(sizeof(float) * n * kRows);
      ASSERT_TRUE(cpu_->MatMul(wc, x.c<float>(), n, y.c<float>()).ok());
      ASSERT_TRUE(gpu_->MatMul(wg, x.g<float>(), n, y.g<float>()).ok());
      const double err = RelativeError(Download<float>(y), CpuCopy<float>(y));
      std::printf("tf32 prefill product %s %lldx%lld by %d tokens: relative error %.3g\n",
                  kernels::GgmlTypeName(type).c_str(), static_cast<long long>(kRows), static_cast<long long>(kCols), n,
                  err);
      // TF32 keeps 10 mantissa bits (2^-11 = 4.9e-4 relative per operand), so 3e-3 leaves room
      // for the accumulation over 4096 terms; the printed error is the first measurement.
      EXPECT_LT(err, 3e-3) << kernels::GgmlTypeName(type) << " by " << n << " tokens";
    }
  }
}

// The FP16 prefill operands: weight rows decoded to FP16 equal the CPU's decoded floats rounded
// to the nearest FP16 (F32ToF16), from any first row.
TEST_P(CudaQuantOpsTest, DequantizeF16IsTheRoundedDecode) {
  const GgmlType type = GetParam();
  const int64_t block = kernels::GetGgmlTypeTraits(static_cast<uint32_t>(type))->block_size;
  if (!kernels::DequantizeF16CanRun(type, block)) {
    EXPECT_TRUE(type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16);
    GTEST_SKIP() << kernels::GgmlTypeName(type) << " is not decoded to FP16";
  }
  for (int64_t cols : {2 * block, int64_t{2048}}) {
    const int64_t rows = 70, first = 5, n = 61;
    const std::vector<uint8_t> bytes = RandomWeight(type, rows, cols, rng_);
    Weight w = Upload(type, rows, cols, bytes, 0);
    TwinBuffer out = Empty(sizeof(uint16_t) * n * cols);
    ASSERT_TRUE(kernels::DequantizeRowsF16({.type = type, .w = w.gpu.data, .row_bytes = w.gpu.row_bytes,
                                            .first_row = first, .n = n, .cols = cols,
                                            .out = static_cast<uint16_t*>(out.gpu->data())},
                                           gpu_->stream())
                    .ok());
    const std::vector<uint16_t> got = Download<uint16_t>(out);
    std::vector<float> row(cols);
    int64_t wrong = 0;
    for (int64_t r = 0; r < n; ++r) {
      ASSERT_TRUE(kernels::DequantizeRow(type, bytes.data() + (first + r) * w.cpu.row_bytes, row.data(), cols).ok());
      for (int64_t c = 0; c < cols; ++c) wrong += got[r * cols + c] != kernels::F32ToF16(row[c]);
    }
    EXPECT_EQ(wrong, 0) << kernels::GgmlTypeName(type) << " cols " << cols;
  }
}

// Activations to FP16: each row scaled by a power of two that puts its largest magnitude in
// [2^14, 2^15) — rows far outside FP16's range included — and rounded once; rows of zeros or
// with a non-finite value keep scale 1. Then the scale is undone on a product's rows.
TEST_F(CudaTwinTest, ScaleToF16KeepsEveryRowsPrecision) {
  constexpr int64_t kCols = 1000;
  const std::vector<double> magnitudes = {1.0, 3e6, 2e-9, 0.0, 1.0, 65504.0};
  std::vector<float> x = RandomFloats(magnitudes.size() * kCols);
  for (size_t r = 0; r < magnitudes.size(); ++r) {
    for (int64_t c = 0; c < kCols; ++c) x[r * kCols + c] = static_cast<float>(x[r * kCols + c] * magnitudes[r]);
  }
  x[4 * kCols + 17] = std::nanf("");
  const int64_t n_rows = static_cast<int64_t>(magnitudes.size());
  constexpr int64_t kPad = 2;  // two rows of padding: zeros, scale 1
  TwinBuffer xb = Twin(x), out = Empty(sizeof(uint16_t) * (n_rows + kPad) * kCols);
  TwinBuffer scales = Empty(sizeof(float) * (n_rows + kPad));
  ASSERT_TRUE(kernels::ScaleToF16(xb.g<float>(), n_rows, n_rows + kPad, kCols, static_cast<uint16_t*>(out.gpu->data()),
                                  scales.g<float>(), gpu_->stream())
                  .ok());
  const std::vector<uint16_t> got = Download<uint16_t>(out);
  const std::vector<float> s = Download<float>(scales);
  EXPECT_EQ(s[n_rows], 1.0f);
  EXPECT_EQ(s[n_rows + 1], 1.0f);
  EXPECT_EQ(std::count(got.begin() + n_rows * kCols, got.end(), uint16_t{0}), kPad * kCols) << "padding rows";
  for (int64_t r = 0; r < n_rows; ++r) {
    float max_abs = 0.0f;
    for (int64_t c = 0; c < kCols; ++c) max_abs = std::max(max_abs, std::fabs(x[r * kCols + c]));
    int e = 0;
    EXPECT_EQ(std::frexp(s[r], &e), 0.5f) << "row " << r << ": scale " << s[r] << " is not a power of two";
    if (r == 3 || r == 4) {
      EXPECT_EQ(s[r], 1.0f) << "row " << r;
    } else {
      EXPECT_GE(max_abs / s[r], 16384.0f) << "row " << r;
      EXPECT_LT(max_abs / s[r], 32768.0f) << "row " << r;
    }
    int64_t wrong = 0;
    for (int64_t c = 0; c < kCols; ++c) {
      const uint16_t want = kernels::F32ToF16(x[r * kCols + c] / s[r]);
      wrong += r == 4 && c == 17 ? (got[r * kCols + c] & 0x7c00u) != 0x7c00u : got[r * kCols + c] != want;
    }
    EXPECT_EQ(wrong, 0) << "row " << r;
  }
  // In place, and from one buffer into another (4-wide and 1-wide columns).
  for (int64_t cols : {kCols, kCols - 1}) {
    const int64_t rows = static_cast<int64_t>(x.size()) / cols;
    TwinBuffer y = Twin(x), apart = Empty(sizeof(float) * x.size());
    ASSERT_TRUE(kernels::ScaleRowsF32(y.g<float>(), y.g<float>(), rows, cols, scales.g<float>(), gpu_->stream()).ok());
    ASSERT_TRUE(kernels::ScaleRowsF32(xb.g<float>(), apart.g<float>(), rows, cols, scales.g<float>(), gpu_->stream())
                    .ok());
    const std::vector<float> in_place = Download<float>(y), copied = Download<float>(apart);
    for (int64_t i : {int64_t{0}, cols + 3, 2 * cols + 998, 5 * cols, rows * cols - 1}) {
      EXPECT_EQ(in_place[i], x[i] * s[i / cols]) << "element " << i << " of rows of " << cols;
      EXPECT_EQ(copied[i], x[i] * s[i / cols]) << "element " << i << " of rows of " << cols;
    }
  }
}

// prefill_precision f16: products of more than 8 tokens on FP16 operands stay within TF32's
// bound of the CPU backend in every token's row — one token ~3e6 in magnitude (FP16 overflows
// without the scale) and one ~2e-9 (it underflows) — also when the weight is decoded in several
// tiles. F32 and BF16 weights take the TF32 products under f16.
TEST_F(CudaTwinTest, F16PrefillProductsStayCloseInEveryToken) {
  auto f16 = CudaBackend::Create({.matmul_workspace_bytes = size_t{1} << 20,
                                  .prefill_precision = PrefillPrecision::kF16});
  ASSERT_TRUE(f16.ok()) << f16.status();
  gpu_ = std::move(*f16);
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ2_K,
                        GgmlType::kF16, GgmlType::kBF16, GgmlType::kF32}) {
    constexpr int64_t kRows = 1000, kCols = 2048;
    const std::vector<uint8_t> bytes = RandomWeight(type, kRows, kCols, rng_);
    const WeightView host{.type = static_cast<uint32_t>(type), .rows = kRows, .cols = kCols,
                          .row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(type), kCols), .data = bytes.data()};
    const WeightView wc = *cpu_->UploadWeight(host, "w"), wg = *gpu_->UploadWeight(host, "w");
    for (int32_t n : {17, 64}) {
      std::vector<float> xs = RandomFloats(static_cast<size_t>(n) * kCols);
      for (int64_t c = 0; c < kCols; ++c) {
        xs[c] *= 3e6f;
        xs[kCols + c] *= 2e-9f;
      }
      TwinBuffer x = Twin(xs);
      TwinBuffer y = Empty(sizeof(float) * n * kRows);
      ASSERT_TRUE(cpu_->MatMul(wc, x.c<float>(), n, y.c<float>()).ok());
      ASSERT_TRUE(gpu_->MatMul(wg, x.g<float>(), n, y.g<float>()).ok());
      const std::vector<float> got = Download<float>(y), want = CpuCopy<float>(y);
      double worst = 0.0;
      for (int32_t t = 0; t < n; ++t) {
        const std::vector<float> a(got.begin() + t * kRows, got.begin() + (t + 1) * kRows);
        const std::vector<float> b(want.begin() + t * kRows, want.begin() + (t + 1) * kRows);
        const double err = RelativeError(a, b);
        EXPECT_LT(err, 3e-3) << kernels::GgmlTypeName(type) << " by " << n << " tokens, token " << t;
        worst = std::max(worst, std::isnan(err) ? 1.0 : err);
      }
      std::printf("f16 prefill product %s %lldx%lld by %d tokens: worst token's relative error %.3g\n",
                  kernels::GgmlTypeName(type).c_str(), static_cast<long long>(kRows), static_cast<long long>(kCols), n,
                  worst);
    }
  }
  // Many rows over few columns, tokens not a multiple of the padding (32), on a backend whose
  // workspace no earlier product grew: the padded product (4 bytes x 32 tokens x 4096 rows)
  // outgrows what sizing for the activations alone would reserve.
  for (GgmlType type : {GgmlType::kF16, GgmlType::kQ8_0}) {
    auto fresh = CudaBackend::Create({.matmul_workspace_bytes = size_t{1} << 20,
                                      .prefill_precision = PrefillPrecision::kF16});
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    gpu_ = std::move(*fresh);
    constexpr int64_t kRows = 4096, kCols = 256;
    constexpr int32_t kTokens = 20;
    const std::vector<uint8_t> bytes = RandomWeight(type, kRows, kCols, rng_);
    const WeightView host{.type = static_cast<uint32_t>(type), .rows = kRows, .cols = kCols,
                          .row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(type), kCols), .data = bytes.data()};
    const WeightView wc = *cpu_->UploadWeight(host, "w"), wg = *gpu_->UploadWeight(host, "w");
    TwinBuffer x = Twin(RandomFloats(static_cast<size_t>(kTokens) * kCols));
    TwinBuffer y = Empty(sizeof(float) * kTokens * kRows);
    ASSERT_TRUE(cpu_->MatMul(wc, x.c<float>(), kTokens, y.c<float>()).ok());
    const absl::Status s = gpu_->MatMul(wg, x.g<float>(), kTokens, y.g<float>());
    ASSERT_TRUE(s.ok()) << kernels::GgmlTypeName(type) << ": " << s;
    EXPECT_LT(RelativeError(Download<float>(y), CpuCopy<float>(y)), 3e-3) << kernels::GgmlTypeName(type);
  }
}

TEST_F(CudaTwinTest, GetRowsRejectsOutOfRangeIds) {
  std::vector<float> table(4 * 32, 1.0f);
  WeightView host{.type = 0, .rows = 4, .cols = 32, .row_bytes = 128, .data = table.data()};
  auto w = gpu_->UploadWeight(host, "table");
  ASSERT_TRUE(w.ok());
  TwinBuffer out = Empty(sizeof(float) * 32);
  const int32_t bad = 4;
  EXPECT_EQ(gpu_->GetRows(*w, &bad, 1, out.g<float>()).code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Types, CudaQuantOpsTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0,
                                           GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                                           GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K,
                                           GgmlType::kQ6_K),
                         [](const auto& info) { return kernels::GgmlTypeName(info.param); });

}  // namespace
}  // namespace hobbit::runtime
