// Backend::RoutedExperts on CUDA against its CPU twin: random experts of each weight type, the
// router's choice in backend memory, 1..8 tokens, top-2; the output is accumulated into random
// values (so an op that overwrites instead of adding fails too).
#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "kernels/quant/quantize.h"
#include "tests/kernels/cuda/cuda_twin_test.h"

namespace hobbit::runtime {
namespace {

using kernels::GgmlType;

class CudaRoutedExpertsTest : public CudaTwinTest, public ::testing::WithParamInterface<GgmlType> {
 protected:
  // One expert matrix, quantized from random rows, in both backends.
  struct Matrix {
    std::vector<uint8_t> bytes;
    WeightView cpu, gpu;
  };
  Matrix Make(GgmlType type, int64_t rows, int64_t cols) {
    Matrix m;
    const int64_t row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(type), cols);
    m.bytes.resize(static_cast<size_t>(rows * row_bytes));
    std::normal_distribution<float> dist(0.0f, 1.0f / 16);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = dist(rng_);
      EXPECT_TRUE(kernels::QuantizeRow(type, row.data(), m.bytes.data() + r * row_bytes, cols).ok());
    }
    const WeightView host{.type = static_cast<uint32_t>(type), .rows = rows, .cols = cols, .row_bytes = row_bytes,
                          .data = m.bytes.data()};
    m.cpu = *cpu_->UploadWeight(host, "expert");
    m.gpu = *gpu_->UploadWeight(host, "expert");
    return m;
  }
};

TEST_P(CudaRoutedExpertsTest, MatchesTheCpuTwin) {
  const GgmlType type = GetParam();
  // 512 wide: a Q6_K row of 256 is 210 bytes, which the kernel's 4-byte loads cannot take
  // (RefusesRowsItCannotLoad).
  constexpr int32_t kExperts = 6, kEmbd = 512, kFf = 1024, kTop = 2;
  std::vector<Matrix> gate, up, down;
  for (int32_t e = 0; e < kExperts; ++e) {
    gate.push_back(Make(type, kFf, kEmbd));
    up.push_back(Make(type, kFf, kEmbd));
    down.push_back(Make(type, kEmbd, kFf));
  }
  auto views = [](const std::vector<Matrix>& m, bool gpu) {
    std::vector<WeightView> v;
    for (const Matrix& x : m) v.push_back(gpu ? x.gpu : x.cpu);
    return v;
  };
  const std::vector<WeightView> gate_c = views(gate, false), up_c = views(up, false), down_c = views(down, false);
  const std::vector<WeightView> gate_g = views(gate, true), up_g = views(up, true), down_g = views(down, true);
  const bool float_type = type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16;
  // n = 0 below stands for one token that lists one expert twice: two pairs of one expert, more
  // than the kernel's one-token pass holds, so it takes a second pass.
  for (int32_t case_n : {1, 2, 3, 8, 0}) {
    const int32_t n = std::max(case_n, 1);
    std::vector<int32_t> ids;
    std::vector<float> weights;
    std::vector<int32_t> order(kExperts);
    for (int32_t t = 0; t < n; ++t) {
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng_);
      const float w0 = std::uniform_real_distribution<float>(0.5f, 0.9f)(rng_);
      ids.insert(ids.end(), {order[0], case_n == 0 ? order[0] : order[1]});
      weights.insert(weights.end(), {w0, 1.0f - w0});
    }
    TwinBuffer x = Twin(RandomFloats(static_cast<size_t>(n) * kEmbd));
    TwinBuffer id = Twin(ids);
    TwinBuffer w = Twin(weights);
    // Small, so they do not hide the experts' part of the error, yet an op that overwrites fails.
    TwinBuffer out = Twin(RandomFloats(static_cast<size_t>(n) * kEmbd, 0.1f));
    RoutedExpertsParams pc{.gate = gate_c, .up = up_c, .down = down_c, .x = x.c<float>(), .ids = id.c<int32_t>(),
                           .weights = w.c<float>(), .n_tokens = n, .k = kTop, .out = out.c<float>()};
    RoutedExpertsParams pg{.gate = gate_g, .up = up_g, .down = down_g, .x = x.g<float>(), .ids = id.g<int32_t>(),
                           .weights = w.g<float>(), .n_tokens = n, .k = kTop, .out = out.g<float>()};
    ASSERT_TRUE(cpu_->RoutedExpertsCanRun(pc));
    ASSERT_TRUE(gpu_->RoutedExpertsCanRun(pg)) << kernels::GgmlTypeName(type);
    ASSERT_TRUE(cpu_->RoutedExperts(pc).ok());
    absl::Status s = gpu_->RoutedExperts(pg);
    ASSERT_TRUE(s.ok()) << s;
    const double err = RelativeError(Download<float>(out), CpuCopy<float>(out));
    std::printf("routed experts %s, %d tokens: relative error %.3g\n", kernels::GgmlTypeName(type).c_str(), n, err);
    // Float weights: float activations, summation order only. Quantized weights: activations go
    // through int8 twice (before gate/up and before down), each ~0.5 % (quant ops test).
    EXPECT_LT(err, float_type ? 2e-5 : 2.5e-2) << kernels::GgmlTypeName(type) << " " << n << " tokens";
  }
}

// One token over long down rows (5120 wide: 20 blocks of 256): each of the down product's threads
// takes several items, so the launch shapes that keep two items of a row in flight per thread
// (Q8_0, Q6_K) run their paired loop and its remainder, and Q4_K takes its shape for long rows;
// also with one of the two ids out of range (skipped in the paired loop as in the single one).
TEST_P(CudaRoutedExpertsTest, OneTokenOverLongDownRows) {
  const GgmlType type = GetParam();
  constexpr int32_t kExperts = 3, kEmbd = 512, kFf = 5120, kTop = 2;
  std::vector<WeightView> gate_c, up_c, down_c, gate_g, up_g, down_g;
  std::vector<Matrix> keep;
  for (int32_t e = 0; e < kExperts; ++e) {
    keep.push_back(Make(type, kFf, kEmbd));
    gate_c.push_back(keep.back().cpu), gate_g.push_back(keep.back().gpu);
    keep.push_back(Make(type, kFf, kEmbd));
    up_c.push_back(keep.back().cpu), up_g.push_back(keep.back().gpu);
    keep.push_back(Make(type, kEmbd, kFf));
    down_c.push_back(keep.back().cpu), down_g.push_back(keep.back().gpu);
  }
  const bool float_type = type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16;
  // An id out of range adds nothing on the GPU, where the CPU backend refuses it: its twin there is
  // a valid expert of weight 0 (the same sum).
  struct Case {
    std::vector<int32_t> gpu_ids, cpu_ids;
    std::vector<float> gpu_weights, cpu_weights;
  };
  const Case cases[] = {{{2, 0}, {2, 0}, {0.7f, 0.3f}, {0.7f, 0.3f}},
                        {{1, 1}, {1, 1}, {0.7f, 0.3f}, {0.7f, 0.3f}},
                        {{2, -1}, {2, 0}, {0.7f, 0.3f}, {0.7f, 0.0f}},
                        {{kExperts, 1}, {0, 1}, {0.4f, 0.6f}, {0.0f, 0.6f}}};
  for (const Case& c : cases) {
    TwinBuffer x = Twin(RandomFloats(kEmbd));
    TwinBuffer id_c = Twin(c.cpu_ids), id_g = Twin(c.gpu_ids);
    TwinBuffer w_c = Twin(c.cpu_weights), w_g = Twin(c.gpu_weights);
    TwinBuffer out = Twin(RandomFloats(kEmbd, 0.1f));
    RoutedExpertsParams pc{.gate = gate_c, .up = up_c, .down = down_c, .x = x.c<float>(), .ids = id_c.c<int32_t>(),
                           .weights = w_c.c<float>(), .n_tokens = 1, .k = kTop, .out = out.c<float>()};
    RoutedExpertsParams pg{.gate = gate_g, .up = up_g, .down = down_g, .x = x.g<float>(), .ids = id_g.g<int32_t>(),
                           .weights = w_g.g<float>(), .n_tokens = 1, .k = kTop, .out = out.g<float>()};
    ASSERT_TRUE(gpu_->RoutedExpertsCanRun(pg)) << kernels::GgmlTypeName(type);
    ASSERT_TRUE(cpu_->RoutedExperts(pc).ok());
    const absl::Status s = gpu_->RoutedExperts(pg);
    ASSERT_TRUE(s.ok()) << s;
    const double err = RelativeError(Download<float>(out), CpuCopy<float>(out));
    std::printf("routed experts %s, one token over %d-wide down rows (experts %d, %d): relative error %.3g\n",
                kernels::GgmlTypeName(type).c_str(), kFf, c.gpu_ids[0], c.gpu_ids[1], err);
    EXPECT_LT(err, float_type ? 2e-5 : 2.5e-2) << kernels::GgmlTypeName(type) << " experts " << c.gpu_ids[0] << ", "
                                               << c.gpu_ids[1];
  }
}

// A prefill batch (past kRoutedExpertsMaxTokens) with the choice on the host: the CUDA backend
// groups the pairs by expert (one expert chosen by no token, one by most) and runs all experts
// in a few launches. The CPU twin, which takes decode-sized batches, gives the reference 8
// tokens at a time (tokens are independent).
TEST_P(CudaRoutedExpertsTest, PrefillBatchGroupedByExpert) {
  const GgmlType type = GetParam();
  constexpr int32_t kExperts = 12, kEmbd = 512, kFf = 1024, kTop = 4, kTokens = 45;
  std::vector<Matrix> gate, up, down;
  for (int32_t e = 0; e < kExperts; ++e) {
    gate.push_back(Make(type, kFf, kEmbd));
    up.push_back(Make(type, kFf, kEmbd));
    down.push_back(Make(type, kEmbd, kFf));
  }
  std::vector<WeightView> gate_c, up_c, down_c, gate_g, up_g, down_g;
  for (int32_t e = 0; e < kExperts; ++e) {
    gate_c.push_back(gate[e].cpu), up_c.push_back(up[e].cpu), down_c.push_back(down[e].cpu);
    gate_g.push_back(gate[e].gpu), up_g.push_back(up[e].gpu), down_g.push_back(down[e].gpu);
  }
  // Expert 0 in every token's choice, expert kExperts - 1 in none.
  std::vector<int32_t> ids;
  std::vector<float> weights;
  std::vector<int32_t> order(kExperts - 2);
  for (int32_t t = 0; t < kTokens; ++t) {
    std::iota(order.begin(), order.end(), 1);
    std::shuffle(order.begin(), order.end(), rng_);
    ids.insert(ids.end(), {0, order[0], order[1], order[2]});
    weights.insert(weights.end(), {0.4f, 0.3f, 0.2f, 0.1f});
  }
  TwinBuffer x = Twin(RandomFloats(static_cast<size_t>(kTokens) * kEmbd));
  TwinBuffer id = Twin(ids), w = Twin(weights);
  TwinBuffer out = Twin(RandomFloats(static_cast<size_t>(kTokens) * kEmbd, 0.1f));
  for (int32_t t0 = 0; t0 < kTokens; t0 += kRoutedExpertsMaxTokens) {
    const int32_t n = std::min(kRoutedExpertsMaxTokens, kTokens - t0);
    RoutedExpertsParams pc{.gate = gate_c, .up = up_c, .down = down_c, .x = x.c<float>() + t0 * kEmbd,
                           .ids = id.c<int32_t>() + t0 * kTop, .weights = w.c<float>() + t0 * kTop, .n_tokens = n,
                           .k = kTop, .out = out.c<float>() + t0 * kEmbd};
    ASSERT_TRUE(cpu_->RoutedExperts(pc).ok());
  }
  RoutedExpertsParams pg{.gate = gate_g, .up = up_g, .down = down_g, .x = x.g<float>(), .n_tokens = kTokens,
                         .k = kTop, .out = out.g<float>()};
  EXPECT_FALSE(gpu_->RoutedExpertsCanRun(pg)) << "a prefill batch needs the host choice";
  pg.ids_host = ids.data();
  pg.weights_host = weights.data();
  ASSERT_TRUE(gpu_->RoutedExpertsCanRun(pg)) << kernels::GgmlTypeName(type);
  const absl::Status s = gpu_->RoutedExperts(pg);
  ASSERT_TRUE(s.ok()) << s;
  const double err = RelativeError(Download<float>(out), CpuCopy<float>(out));
  std::printf("routed experts %s, prefill of %d tokens grouped: relative error %.3g\n",
              kernels::GgmlTypeName(type).c_str(), kTokens, err);
  const bool float_type = type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16;
  EXPECT_LT(err, float_type ? 2e-5 : 2.5e-2) << kernels::GgmlTypeName(type);
}

// Q6_K rows of 256 elements are 210 bytes: not the 4-byte multiple the kernel's loads need, so
// the CUDA backend says no and the model runs those experts the host-routed way.
class CudaRoutedExpertsShapeTest : public CudaRoutedExpertsTest {};

TEST_F(CudaRoutedExpertsShapeTest, RefusesRowsItCannotLoad) {
  std::vector<Matrix> gate, up, down;
  for (int e = 0; e < 2; ++e) {
    gate.push_back(Make(GgmlType::kQ6_K, 512, 256));
    up.push_back(Make(GgmlType::kQ6_K, 512, 256));
    down.push_back(Make(GgmlType::kQ6_K, 256, 512));
  }
  std::vector<WeightView> g, u, d;
  for (int e = 0; e < 2; ++e) {
    g.push_back(gate[e].gpu);
    u.push_back(up[e].gpu);
    d.push_back(down[e].gpu);
  }
  TwinBuffer x = Twin(RandomFloats(256));
  TwinBuffer id = Twin(std::vector<int32_t>{0, 1});
  TwinBuffer w = Twin(std::vector<float>{0.5f, 0.5f});
  TwinBuffer out = Twin(RandomFloats(256));
  RoutedExpertsParams p{.gate = g, .up = u, .down = d, .x = x.g<float>(), .ids = id.g<int32_t>(),
                        .weights = w.g<float>(), .n_tokens = 1, .k = 2, .out = out.g<float>()};
  EXPECT_FALSE(gpu_->RoutedExpertsCanRun(p));
  EXPECT_FALSE(gpu_->RoutedExperts(p).ok());
}

INSTANTIATE_TEST_SUITE_P(Types, CudaRoutedExpertsTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kQ8_0, GgmlType::kQ4_0,
                                           GgmlType::kQ4_1, GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K,
                                           GgmlType::kQ6_K),
                         [](const auto& info) { return kernels::GgmlTypeName(info.param); });

}  // namespace
}  // namespace hobbit::runtime
