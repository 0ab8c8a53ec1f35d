// The CUDA backend's non-product ops against the CPU backend (kernels/cpu) on fresh random
// inputs: norms, RoPE in both styles, elementwise ops, row gather/scatter, the router, the KV
// write and paged attention for decode and prefill at head dims 64 and 128.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/half.h"
#include "kernels/base/kv_cache_type.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/quant/quantize.h"
#include "tests/kernels/cuda/cuda_twin_test.h"

namespace hobbit::runtime {
namespace {

using kernels::GgmlType;

// float32 elementwise math (expf, rsqrtf, fused multiply-adds) against the CPU's libm: ulps.
constexpr double kElementwiseTolerance = 1e-6;
// Reductions in a different order (norm sums, attention softmax and weighted sums).
constexpr double kReductionTolerance = 1e-5;

TEST_F(CudaTwinTest, RmsNormWithAndWithoutWeight) {
  for (int64_t dim : {64, 128, 2048, 4096, 5000, 4098, 10000}) {  // the last two: the scalar kernel
    const int64_t rows = 7;
    TwinBuffer x = Twin(RandomFloats(rows * dim, 3.0f));
    TwinBuffer w = Twin(RandomFloats(dim));
    for (bool with_weight : {true, false}) {
      TwinBuffer out = Empty(sizeof(float) * rows * dim);
      const float* wc = with_weight ? w.c<float>() : nullptr;
      const float* wg = with_weight ? w.g<float>() : nullptr;
      ASSERT_TRUE(cpu_->RmsNorm(x.c<float>(), wc, rows, dim, 1e-5f, out.c<float>()).ok());
      ASSERT_TRUE(gpu_->RmsNorm(x.g<float>(), wg, rows, dim, 1e-5f, out.g<float>()).ok());
      EXPECT_LT(RelativeError(Download<float>(out), CpuCopy<float>(out)), kReductionTolerance) << dim;
    }
  }
}

TEST_F(CudaTwinTest, RopeBothStylesAndPartialRotation) {
  for (int32_t head_dim : {64, 128}) {
    for (RopeStyle style : {RopeStyle::kAdjacentPairs, RopeStyle::kHalfSplit}) {
      for (int32_t n_rot : {head_dim, head_dim / 2}) {
        const int32_t n_tokens = 9, n_heads = 6;
        TwinBuffer x = Twin(RandomFloats(size_t{1} * n_tokens * n_heads * head_dim));
        TwinBuffer pos = Twin(std::vector<int32_t>{0, 1, 2, 7, 100, 1000, 4095, 30000, 5});
        RopeParams p{.n_tokens = n_tokens, .n_heads = n_heads, .head_dim = head_dim, .n_rot = n_rot,
                     .freq_base = 1e6f, .freq_scale = 0.5f, .style = style};
        p.x = x.c<float>();
        p.positions = pos.c<int32_t>();
        ASSERT_TRUE(cpu_->Rope(p).ok());
        p.x = x.g<float>();
        p.positions = pos.g<int32_t>();
        ASSERT_TRUE(gpu_->Rope(p).ok());
        EXPECT_LT(RelativeError(Download<float>(x), CpuCopy<float>(x)), kElementwiseTolerance)
            << head_dim << " " << n_rot << " " << static_cast<int>(style);
      }
    }
  }
}

// Q and K rotated in one call and the KV cache written by it (RopeParams::x2, kv_write), as the
// model calls it, with and without qwen3's per-head norms first (head_norm, head_norm2): equal to
// the CPU backend's RmsNorm, Rope, Rope and WriteKv.
TEST_F(CudaTwinTest, RopeOfQAndKWithCacheWrite) {
  // (KV heads, extra V floats, head norms): V rows split evenly over the KV heads' blocks, and (3
  // heads, 32 extra) a row that does not split, copied by one block.
  for (const auto& [n_heads_kv, v_extra, norms] :
       {std::tuple{2, 0, false}, std::tuple{3, 32, false}, std::tuple{2, 0, true}, std::tuple{3, 32, true}}) {
    for (int32_t head_dim : {64, 128}) {
      for (RopeStyle style : {RopeStyle::kAdjacentPairs, RopeStyle::kHalfSplit}) {
        for (int32_t n_rot : {head_dim, head_dim / 2}) {
          const int32_t n_tokens = 5, n_heads = 6 * n_heads_kv, n_slots = 32;
          const int32_t k_row = n_heads_kv * head_dim, v_row = n_heads_kv * (head_dim + 32) + v_extra;
          TwinBuffer q = Twin(RandomFloats(size_t{1} * n_tokens * n_heads * head_dim));
          TwinBuffer k = Twin(RandomFloats(size_t{1} * n_tokens * k_row));
          TwinBuffer v = Twin(RandomFloats(size_t{1} * n_tokens * v_row));
          TwinBuffer k_cache = Twin(RandomFloats(size_t{1} * n_slots * k_row));  // rows not written stay
          TwinBuffer v_cache = Twin(RandomFloats(size_t{1} * n_slots * v_row));
          TwinBuffer pos = Twin(std::vector<int32_t>{0, 1, 77, 4095, 30000});
          TwinBuffer slots = Twin(std::vector<int32_t>{3, 31, 0, 17, 8});
          RopeParams p{.n_tokens = n_tokens, .n_heads = n_heads, .head_dim = head_dim, .n_rot = n_rot,
                       .freq_base = 1e6f, .freq_scale = 0.5f, .style = style, .n_heads2 = n_heads_kv};
          KvWriteParams kw{.n_tokens = n_tokens, .k_row = k_row, .v_row = v_row};
          p.x = q.c<float>(); p.x2 = k.c<float>(); p.positions = pos.c<int32_t>();
          kw.k = k.c<float>(); kw.v = v.c<float>(); kw.k_cache = k_cache.c<float>(); kw.v_cache = v_cache.c<float>();
          kw.slots = slots.c<int32_t>();
          p.kv_write = &kw;
          TwinBuffer q_norm = Twin(RandomFloats(head_dim)), k_norm = Twin(RandomFloats(head_dim));
          p.head_norm_eps = 1e-5f;
          if (norms) {
            p.head_norm = q_norm.c<float>();
            p.head_norm2 = k_norm.c<float>();
          }
          ASSERT_TRUE(cpu_->Rope(p).ok());
          p.x = q.g<float>(); p.x2 = k.g<float>(); p.positions = pos.g<int32_t>();
          kw.k = k.g<float>(); kw.v = v.g<float>(); kw.k_cache = k_cache.g<float>(); kw.v_cache = v_cache.g<float>();
          kw.slots = slots.g<int32_t>();
          if (norms) {
            p.head_norm = q_norm.g<float>();
            p.head_norm2 = k_norm.g<float>();
          }
          ASSERT_TRUE(gpu_->Rope(p).ok());
          const std::string what =
              absl::StrCat(head_dim, " ", n_rot, " ", static_cast<int>(style), norms ? " normed" : "");
          const double tolerance = norms ? kReductionTolerance : kElementwiseTolerance;
          EXPECT_LT(RelativeError(Download<float>(q), CpuCopy<float>(q)), tolerance) << "q " << what;
          EXPECT_LT(RelativeError(Download<float>(k), CpuCopy<float>(k)), tolerance) << "k " << what;
          EXPECT_LT(RelativeError(Download<float>(k_cache), CpuCopy<float>(k_cache)), tolerance)
              << "k cache " << what;
          EXPECT_EQ(Download<float>(v_cache), CpuCopy<float>(v_cache)) << "v cache " << what;
          // The cache's K rows are the rotated K, bit for bit.
          const std::vector<float> k_now = Download<float>(k), cache_now = Download<float>(k_cache);
          const std::vector<int32_t> slot_ids = {3, 31, 0, 17, 8};
          for (int32_t t = 0; t < n_tokens; ++t) {
            EXPECT_EQ(std::memcmp(&cache_now[size_t{1} * slot_ids[t] * k_row], &k_now[size_t{1} * t * k_row],
                                  sizeof(float) * k_row),
                      0)
                << "token " << t << " " << what;
          }
        }
      }
    }
  }
  // A cache write must write the second tensor.
  RopeParams bad{.n_tokens = 1, .n_heads = 1, .head_dim = 64, .n_rot = 64};
  KvWriteParams kw{.n_tokens = 1, .k_row = 64, .v_row = 64};
  bad.kv_write = &kw;
  EXPECT_FALSE(gpu_->Rope(bad).ok());
  EXPECT_FALSE(cpu_->Rope(bad).ok());
}

// The same call writing a half cache (RopeParams::kv_write with kv_type f16): on each backend the
// cache holds that backend's rotated K and its V, rounded to nearest even, bit for bit; rows not
// written keep their bytes.
TEST_F(CudaTwinTest, RopeWritesHalfCache) {
  for (const bool norms : {false, true}) {
    for (RopeStyle style : {RopeStyle::kAdjacentPairs, RopeStyle::kHalfSplit}) {
      for (int32_t n_rot : {128, 64}) {  // 128: the one-pair path; 64: the general loop
        const int32_t n_tokens = 5, n_heads_kv = 2, n_heads = 8, head_dim = 128, n_slots = 32;
        const int32_t k_row = n_heads_kv * head_dim, v_row = n_heads_kv * head_dim + 32;
        TwinBuffer q = Twin(RandomFloats(size_t{1} * n_tokens * n_heads * head_dim));
        TwinBuffer k = Twin(RandomFloats(size_t{1} * n_tokens * k_row));
        TwinBuffer v = Twin(RandomFloats(size_t{1} * n_tokens * v_row));
        std::vector<uint16_t> k_init(size_t{1} * n_slots * k_row), v_init(size_t{1} * n_slots * v_row);
        for (size_t i = 0; i < k_init.size(); ++i) k_init[i] = static_cast<uint16_t>(i * 7919u);
        for (size_t i = 0; i < v_init.size(); ++i) v_init[i] = static_cast<uint16_t>(i * 104729u);
        TwinBuffer k_cache = Twin(k_init), v_cache = Twin(v_init);
        TwinBuffer q_norm = Twin(RandomFloats(head_dim)), k_norm = Twin(RandomFloats(head_dim));
        const std::vector<int32_t> slot_ids = {3, 31, 0, 17, 8};
        TwinBuffer pos = Twin(std::vector<int32_t>{0, 1, 77, 4095, 30000}), slots = Twin(slot_ids);
        RopeParams p{.n_tokens = n_tokens,
                     .n_heads = n_heads,
                     .head_dim = head_dim,
                     .n_rot = n_rot,
                     .freq_base = 1e6f,
                     .style = style,
                     .n_heads2 = n_heads_kv,
                     .head_norm_eps = 1e-5f};
        KvWriteParams kw{.kv_type = kernels::KvCacheType::kF16, .n_tokens = n_tokens, .k_row = k_row, .v_row = v_row};
        p.kv_write = &kw;
        for (const bool on_gpu : {false, true}) {
          p.x = on_gpu ? q.g<float>() : q.c<float>();
          p.x2 = on_gpu ? k.g<float>() : k.c<float>();
          p.positions = on_gpu ? pos.g<int32_t>() : pos.c<int32_t>();
          p.head_norm = norms ? (on_gpu ? q_norm.g<float>() : q_norm.c<float>()) : nullptr;
          p.head_norm2 = norms ? (on_gpu ? k_norm.g<float>() : k_norm.c<float>()) : nullptr;
          kw.k = p.x2;
          kw.v = on_gpu ? v.g<float>() : v.c<float>();
          kw.k_cache = on_gpu ? k_cache.g<uint16_t>() : k_cache.c<uint16_t>();
          kw.v_cache = on_gpu ? v_cache.g<uint16_t>() : v_cache.c<uint16_t>();
          kw.slots = on_gpu ? slots.g<int32_t>() : slots.c<int32_t>();
          ASSERT_TRUE((on_gpu ? gpu_->Rope(p) : cpu_->Rope(p)).ok());
          const std::vector<float> k_now = on_gpu ? Download<float>(k) : CpuCopy<float>(k);
          const std::vector<float> v_now = CpuCopy<float>(v);
          std::vector<uint16_t> k_want = k_init, v_want = v_init;
          for (int32_t t = 0; t < n_tokens; ++t) {
            for (int32_t i = 0; i < k_row; ++i) {
              k_want[size_t{1} * slot_ids[t] * k_row + i] = kernels::F32ToF16(k_now[size_t{1} * t * k_row + i]);
            }
            for (int32_t i = 0; i < v_row; ++i) {
              v_want[size_t{1} * slot_ids[t] * v_row + i] = kernels::F32ToF16(v_now[size_t{1} * t * v_row + i]);
            }
          }
          const std::string what =
              absl::StrCat(on_gpu ? "gpu" : "cpu", " ", n_rot, " ", static_cast<int>(style), norms ? " normed" : "");
          EXPECT_EQ(on_gpu ? Download<uint16_t>(k_cache) : CpuCopy<uint16_t>(k_cache), k_want) << "k cache " << what;
          EXPECT_EQ(on_gpu ? Download<uint16_t>(v_cache) : CpuCopy<uint16_t>(v_cache), v_want) << "v cache " << what;
        }
        EXPECT_LT(RelativeError(Download<float>(k), CpuCopy<float>(k)),
                  norms ? kReductionTolerance : kElementwiseTolerance);
      }
    }
  }
}

TEST_F(CudaTwinTest, ElementwiseOps) {
  const int64_t rows = 33, dim = 1000, n = rows * dim;
  TwinBuffer a = Twin(RandomFloats(n, 4.0f));
  TwinBuffer b = Twin(RandomFloats(n));
  TwinBuffer bias = Twin(RandomFloats(dim));
  TwinBuffer gate = Twin(RandomFloats(rows, 3.0f));
  TwinBuffer out = Empty(sizeof(float) * n);
  ASSERT_TRUE(cpu_->SiluMul(a.c<float>(), b.c<float>(), n, out.c<float>()).ok());
  ASSERT_TRUE(gpu_->SiluMul(a.g<float>(), b.g<float>(), n, out.g<float>()).ok());
  EXPECT_LT(RelativeError(Download<float>(out), CpuCopy<float>(out)), kElementwiseTolerance) << "silu_mul";

  ASSERT_TRUE(cpu_->Add(a.c<float>(), b.c<float>(), n).ok());
  ASSERT_TRUE(gpu_->Add(a.g<float>(), b.g<float>(), n).ok());
  EXPECT_EQ(Download<float>(a), CpuCopy<float>(a)) << "add";

  ASSERT_TRUE(cpu_->AddRowBias(a.c<float>(), bias.c<float>(), rows, dim).ok());
  ASSERT_TRUE(gpu_->AddRowBias(a.g<float>(), bias.g<float>(), rows, dim).ok());
  EXPECT_EQ(Download<float>(a), CpuCopy<float>(a)) << "add_row_bias";

  ASSERT_TRUE(cpu_->ScaleRowsBySigmoid(a.c<float>(), gate.c<float>(), rows, dim).ok());
  ASSERT_TRUE(gpu_->ScaleRowsBySigmoid(a.g<float>(), gate.g<float>(), rows, dim).ok());
  EXPECT_LT(RelativeError(Download<float>(a), CpuCopy<float>(a)), kElementwiseTolerance) << "scale_rows_by_sigmoid";

  ASSERT_TRUE(cpu_->Fill(out.c<float>(), -2.5f, n).ok());
  ASSERT_TRUE(gpu_->Fill(out.g<float>(), -2.5f, n).ok());
  EXPECT_EQ(Download<float>(out), CpuCopy<float>(out)) << "fill";
}

TEST_F(CudaTwinTest, GatherAndScatterAddScaled) {
  const int64_t n_src = 40, dim = 4096;
  TwinBuffer src = Twin(RandomFloats(n_src * dim));
  const std::vector<int32_t> rows = {3, 0, 39, 17, 18, 5};
  const std::vector<float> scales = {0.5f, -1.25f, 2.0f, 0.1f, 1.0f, 3.0f};
  const int32_t n = static_cast<int32_t>(rows.size());
  TwinBuffer gathered = Empty(sizeof(float) * n * dim);
  ASSERT_TRUE(cpu_->GatherRows(src.c<float>(), rows.data(), n, dim, gathered.c<float>()).ok());
  ASSERT_TRUE(gpu_->GatherRows(src.g<float>(), rows.data(), n, dim, gathered.g<float>()).ok());
  EXPECT_EQ(Download<float>(gathered), CpuCopy<float>(gathered));
  // With the rows in device memory.
  TwinBuffer rows_device = Twin(rows);
  Poison(gathered);
  ASSERT_TRUE(gpu_->GatherRowsDevice(src.g<float>(), rows_device.g<int32_t>(), n, dim, gathered.g<float>()).ok());
  EXPECT_EQ(Download<float>(gathered), CpuCopy<float>(gathered)) << "device rows";

  TwinBuffer dst = Twin(RandomFloats(n_src * dim));
  ASSERT_TRUE(cpu_->ScatterAddScaled(gathered.c<float>(), rows.data(), scales.data(), n, dim, dst.c<float>()).ok());
  ASSERT_TRUE(gpu_->ScatterAddScaled(gathered.g<float>(), rows.data(), scales.data(), n, dim, dst.g<float>()).ok());
  EXPECT_LT(RelativeError(Download<float>(dst), CpuCopy<float>(dst)), kElementwiseTolerance);
}

TEST_F(CudaTwinTest, RouterTopKMatchesIdsAndWeights) {
  for (int32_t n_expert : {8, 60, 64, 128}) {
    for (int32_t k : {1, 2, 4, 8, 40}) {  // 40: picks past the warp's 32 lanes
      if (k > n_expert) continue;
      for (bool renormalize : {true, false}) {
        const int32_t n_tokens = 37;
        TwinBuffer logits = Twin(RandomFloats(size_t{1} * n_tokens * n_expert, 2.0f));
        std::vector<int32_t> ids_c(n_tokens * k), ids_g(n_tokens * k, -1);
        std::vector<float> w_c(n_tokens * k), w_g(n_tokens * k, -1.0f);
        RouterParams p{.n_tokens = n_tokens, .n_expert = n_expert, .k = k, .renormalize = renormalize};
        p.logits = logits.c<float>();
        p.ids_host = ids_c.data();
        p.weights_host = w_c.data();
        ASSERT_TRUE(cpu_->Router(p).ok());
        p.logits = logits.g<float>();
        p.ids_host = ids_g.data();
        p.weights_host = w_g.data();
        ASSERT_TRUE(gpu_->Router(p).ok());
        EXPECT_EQ(ids_g, ids_c) << n_expert << " experts, k " << k;
        EXPECT_LT(RelativeError(w_g, w_c), kElementwiseTolerance * 4) << n_expert << " experts, k " << k;
      }
    }
  }
}

// Logits that are not numbers (a NaN or infinity upstream) still give k distinct experts in
// range: the expert kernels index weights by them, and a bad id must not read outside them.
TEST_F(CudaTwinTest, RouterPicksValidExpertsFromNonFiniteLogits) {
  const int32_t n_expert = 64, k = 8, n_tokens = 4;
  std::vector<float> values = RandomFloats(size_t{1} * n_tokens * n_expert, 2.0f);
  values[3] = std::nanf("");                                                    // token 0: one NaN
  for (int32_t e = 0; e < n_expert; ++e) values[n_expert + e] = std::nanf("");  // token 1: all NaN
  values[2 * n_expert + 5] = INFINITY;                                          // token 2: +inf (inf - inf is NaN)
  values[3 * n_expert + 7] = -INFINITY;                                         // token 3: -inf (a probability of 0)
  TwinBuffer logits = Twin(values);
  std::vector<int32_t> ids(n_tokens * k, -1);
  std::vector<float> weights(n_tokens * k, -1.0f);
  RouterParams p{.n_tokens = n_tokens, .n_expert = n_expert, .k = k, .renormalize = true};
  p.logits = logits.g<float>();
  p.ids_host = ids.data();
  p.weights_host = weights.data();
  ASSERT_TRUE(gpu_->Router(p).ok());
  for (int32_t t = 0; t < n_tokens; ++t) {
    std::set<int32_t> seen;
    for (int32_t j = 0; j < k; ++j) {
      const int32_t id = ids[t * k + j];
      EXPECT_GE(id, 0) << "token " << t;
      EXPECT_LT(id, n_expert) << "token " << t;
      seen.insert(id);
    }
    EXPECT_EQ(seen.size(), size_t{k}) << "token " << t;
  }
}

// The RMSNorm that routes (kernels/cuda/rms_norm.h, RmsNormQuantizeRouteF32: the norm, its int8
// copy, the router's logits and top-k in one kernel) against the CPU's norm, router product and
// router, called through the backend (which takes that kernel where RmsNormQuantizeRouteCanRun
// says it may: checked here) at the mixtral and qwen3 shapes, a row narrower than one block's 128
// elements, 60 experts, 40 picks, and the three float router types. The kernel leaves its counter
// at zero: every call after the first reuses the scratch.
TEST_F(CudaTwinTest, RmsNormRouteMatchesNormRouterProductAndTopK) {
  struct Case {
    int64_t dim;
    int32_t n_expert, k;
    bool renormalize;
    GgmlType type;
  };
  const Case cases[] = {{4096, 8, 2, true, GgmlType::kF32},    {2048, 128, 8, true, GgmlType::kF32},
                        {96, 60, 4, false, GgmlType::kF32},    {4096, 8, 2, true, GgmlType::kBF16},
                        {2048, 128, 8, false, GgmlType::kF16}, {1024, 64, 40, true, GgmlType::kF16}};
  for (const Case& c : cases) {
    const int64_t row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(c.type), c.dim);
    const std::vector<float> w_f = RandomFloats(size_t{1} * c.n_expert * c.dim, 0.05f);
    std::vector<uint8_t> w_bytes(c.n_expert * row_bytes);
    for (int32_t e = 0; e < c.n_expert; ++e) {
      ASSERT_TRUE(kernels::QuantizeRow(c.type, w_f.data() + e * c.dim, w_bytes.data() + e * row_bytes, c.dim).ok());
    }
    const WeightView host{.type = static_cast<uint32_t>(c.type),
                          .rows = c.n_expert,
                          .cols = c.dim,
                          .row_bytes = row_bytes,
                          .data = w_bytes.data()};
    const WeightView router = *gpu_->UploadWeight(host, "router");
    TwinBuffer norm_w = Twin(RandomFloats(c.dim));
    for (int32_t n : {1, 3, 8, 1}) {
      const std::string what = absl::StrCat(c.dim, " wide, ", c.n_expert, " experts, k ", c.k, ", ",
                                            kernels::GgmlTypeName(c.type), ", ", n, " rows");
      TwinBuffer x = Twin(RandomFloats(size_t{1} * n * c.dim, 2.0f));
      TwinBuffer out = Empty(sizeof(float) * n * c.dim);
      TwinBuffer logits = Empty(sizeof(float) * n * c.n_expert);
      TwinBuffer ids = Empty(sizeof(int32_t) * n * c.k), weights = Empty(sizeof(float) * n * c.k);
      std::vector<int32_t> ids_c(n * c.k);
      std::vector<float> w_c(n * c.k);
      RouterParams rp{.n_tokens = n,
                      .n_expert = c.n_expert,
                      .k = c.k,
                      .renormalize = c.renormalize,
                      .ids_host = ids_c.data(),
                      .weights_host = w_c.data()};
      ASSERT_TRUE(cpu_->RmsNormRoute(x.c<float>(), norm_w.c<float>(), n, c.dim, 1e-5f, out.c<float>(), host,
                                     logits.c<float>(), rp)
                      .ok());
      rp.ids_device = ids.g<int32_t>();
      rp.weights_device = weights.g<float>();
      const kernels::RmsNormParams np{
          .x = x.g<float>(), .weight = norm_w.g<float>(), .n_rows = n, .dim = c.dim, .out = out.g<float>()};
      const kernels::NormRouteParams nr{.w = router.data,
                                        .type = c.type,
                                        .row_bytes = row_bytes,
                                        .n_expert = c.n_expert,
                                        .k = c.k,
                                        .renormalize = c.renormalize,
                                        .logits = logits.g<float>(),
                                        .ids = rp.ids_device,
                                        .weights = rp.weights_device,
                                        .scratch = out.g<float>()};  // aligned
      ASSERT_TRUE(kernels::RmsNormQuantizeRouteCanRun(np, out.g<float>(), nr)) << what;
      ASSERT_TRUE(gpu_->RmsNormRoute(x.g<float>(), norm_w.g<float>(), n, c.dim, 1e-5f, out.g<float>(), router,
                                     logits.g<float>(), rp)
                      .ok());
      EXPECT_LT(RelativeError(Download<float>(out), CpuCopy<float>(out)), kReductionTolerance) << what;
      EXPECT_LT(RelativeError(Download<float>(logits), CpuCopy<float>(logits)), kReductionTolerance) << what;
      EXPECT_EQ(Download<int32_t>(ids), ids_c) << what;
      EXPECT_LT(RelativeError(Download<float>(weights), w_c), kReductionTolerance) << what;
    }
  }
}

// The routing norm's int8 copy feeds the products after it as RmsNormForProducts' does: a Q8_0
// product over its output equals, bit for bit, the product over the same values copied in.
TEST_F(CudaTwinTest, RmsNormRouteLeavesTheInt8CopyForTheProducts) {
  const int64_t dim = 512, rows = 64;
  const int32_t n = 2, n_expert = 8, k = 2;
  const std::vector<float> w_f = RandomFloats(size_t{1} * rows * dim);
  const int64_t row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(GgmlType::kQ8_0), dim);
  std::vector<uint8_t> w_bytes(rows * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    ASSERT_TRUE(kernels::QuantizeRow(GgmlType::kQ8_0, w_f.data() + r * dim, w_bytes.data() + r * row_bytes, dim).ok());
  }
  const WeightView w = *gpu_->UploadWeight({.type = static_cast<uint32_t>(GgmlType::kQ8_0),
                                            .rows = rows,
                                            .cols = dim,
                                            .row_bytes = row_bytes,
                                            .data = w_bytes.data()},
                                           "w");
  const std::vector<float> router_f = RandomFloats(size_t{1} * n_expert * dim);
  const WeightView router = *gpu_->UploadWeight({.type = static_cast<uint32_t>(GgmlType::kF32),
                                                 .rows = n_expert,
                                                 .cols = dim,
                                                 .row_bytes = dim * int64_t{sizeof(float)},
                                                 .data = router_f.data()},
                                                "router");
  TwinBuffer x = Twin(RandomFloats(size_t{1} * n * dim)), norm_w = Twin(RandomFloats(dim));
  TwinBuffer h = Empty(sizeof(float) * n * dim), copied = Empty(sizeof(float) * n * dim);
  TwinBuffer logits = Empty(sizeof(float) * n * n_expert), ids = Empty(sizeof(int32_t) * n * k);
  TwinBuffer weights = Empty(sizeof(float) * n * k);
  TwinBuffer got = Empty(sizeof(float) * n * rows), want = Empty(sizeof(float) * n * rows);
  RouterParams rp{.n_tokens = n, .n_expert = n_expert, .k = k};
  rp.ids_device = ids.g<int32_t>();
  rp.weights_device = weights.g<float>();
  ASSERT_TRUE(
      gpu_->RmsNormRoute(x.g<float>(), norm_w.g<float>(), n, dim, 1e-5f, h.g<float>(), router, logits.g<float>(), rp)
          .ok());
  ASSERT_TRUE(gpu_->MatMul(w, h.g<float>(), n, got.g<float>()).ok());
  const std::vector<float> values = Download<float>(h);
  ASSERT_TRUE(gpu_->CopyToDevice(copied.g<float>(), values.data(), sizeof(float) * values.size()).ok());
  ASSERT_TRUE(gpu_->MatMul(w, copied.g<float>(), n, want.g<float>()).ok());
  EXPECT_EQ(Download<float>(got), Download<float>(want));
}

class CudaAttentionTest : public CudaTwinTest {
 protected:
  // Caches of n_blocks blocks of 16; each of the 3 sequences' tables has max_blocks entries (their
  // bound of max_blocks * 16 positions decides whether a decode batch splits its contexts: over
  // kernels::kAttentionSplitMinContext). Tables longer than the cache reuse its blocks, as
  // sequences sharing a prefix do.
  void Check(int32_t head_dim, int32_t n_head, int32_t n_head_kv, const std::vector<int32_t>& token_seq,
             const std::vector<int32_t>& token_pos, int32_t max_blocks = 20, int32_t n_blocks = 64) {
    const int32_t block_size = 16, n_seqs = 3;
    const int64_t row = int64_t{n_head_kv} * head_dim;
    // Cache rows written through WriteKv from random K/V, one row per slot.
    const int32_t n_slots = block_size * n_blocks;
    std::vector<int32_t> slots(n_slots);
    std::iota(slots.begin(), slots.end(), 0);
    const size_t elem = static_cast<size_t>(kernels::KvCacheTypeBytes(kv_type_));
    TwinBuffer k_cache = Empty(elem * n_slots * row);
    TwinBuffer v_cache = Empty(elem * n_slots * row);
    TwinBuffer k = Twin(RandomFloats(n_slots * row));
    TwinBuffer v = Twin(RandomFloats(n_slots * row));
    TwinBuffer slot_buf = Twin(slots);
    KvWriteParams kw{.kv_type = kv_type_,
                     .n_tokens = n_slots,
                     .k_row = static_cast<int32_t>(row),
                     .v_row = static_cast<int32_t>(row)};
    kw.k = k.c<float>(); kw.v = v.c<float>(); kw.k_cache = k_cache.c<float>(); kw.v_cache = v_cache.c<float>();
    kw.slots = slot_buf.c<int32_t>();
    ASSERT_TRUE(cpu_->WriteKv(kw).ok());
    kw.k = k.g<float>(); kw.v = v.g<float>(); kw.k_cache = k_cache.g<float>(); kw.v_cache = v_cache.g<float>();
    kw.slots = slot_buf.g<int32_t>();
    ASSERT_TRUE(gpu_->WriteKv(kw).ok());
    // Half caches: both backends round to nearest even, so the bits agree too.
    EXPECT_EQ(Download<uint8_t>(k_cache), CpuCopy<uint8_t>(k_cache));
    EXPECT_EQ(Download<uint8_t>(v_cache), CpuCopy<uint8_t>(v_cache));
    // Each sequence owns a shuffled set of blocks.
    std::vector<int32_t> blocks(n_blocks);
    std::iota(blocks.begin(), blocks.end(), 0);
    std::shuffle(blocks.begin(), blocks.end(), rng_);
    std::vector<int32_t> tables(n_seqs * max_blocks);
    for (int32_t i = 0; i < n_seqs * max_blocks; ++i) tables[i] = blocks[i % n_blocks];
    const int32_t n_tokens = static_cast<int32_t>(token_seq.size());
    TwinBuffer q = Twin(RandomFloats(size_t{1} * n_tokens * n_head * head_dim));
    TwinBuffer out = Empty(sizeof(float) * n_tokens * n_head * head_dim);
    TwinBuffer seq_buf = Twin(token_seq), pos_buf = Twin(token_pos), table_buf = Twin(tables);
    AttentionParams p{.n_tokens = n_tokens,
                      .n_head = n_head,
                      .n_head_kv = n_head_kv,
                      .head_dim_k = head_dim,
                      .head_dim_v = head_dim,
                      .scale = 1.0f / std::sqrt(float(head_dim)),
                      .kv_type = kv_type_,
                      .block_size = block_size,
                      .max_blocks = max_blocks};
    p.q = q.c<float>(); p.out = out.c<float>(); p.k_cache = k_cache.c<float>(); p.v_cache = v_cache.c<float>();
    p.token_seq = seq_buf.c<int32_t>(); p.token_pos = pos_buf.c<int32_t>(); p.block_tables = table_buf.c<int32_t>();
    ASSERT_TRUE(cpu_->Attention(p).ok());
    p.q = q.g<float>(); p.out = out.g<float>(); p.k_cache = k_cache.g<float>(); p.v_cache = v_cache.g<float>();
    p.token_seq = seq_buf.g<int32_t>(); p.token_pos = pos_buf.g<int32_t>(); p.block_tables = table_buf.g<int32_t>();
    ASSERT_TRUE(gpu_->Attention(p).ok());
    const std::vector<float> got = Download<float>(out);
    EXPECT_LT(RelativeError(got, CpuCopy<float>(out)), kReductionTolerance)
        << "head_dim " << head_dim << ", " << n_head << "/" << n_head_kv << " heads, " << n_tokens << " tokens, "
        << max_blocks << " blocks a table, " << kernels::KvCacheTypeName(kv_type_) << " cache";
    // A decode batch's attention also quantizes its output for the output product (int8
    // activations): that product equals, bit for bit, the product over the same values copied in.
    if (n_tokens <= 8) {
      const int64_t width = int64_t{n_head} * head_dim;
      std::vector<float> rows_f(size_t{32} * width);
      std::normal_distribution<float> dist(0.0f, 1.0f);
      for (float& v : rows_f) v = dist(rng_);
      const int64_t row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(kernels::GgmlType::kQ8_0), width);
      std::vector<uint8_t> bytes(32 * row_bytes);
      for (int r = 0; r < 32; ++r) {
        ASSERT_TRUE(kernels::QuantizeRow(kernels::GgmlType::kQ8_0, rows_f.data() + r * width,
                                         bytes.data() + r * row_bytes, width)
                        .ok());
      }
      const WeightView wo = *gpu_->UploadWeight({.type = static_cast<uint32_t>(kernels::GgmlType::kQ8_0), .rows = 32,
                                                 .cols = width, .row_bytes = row_bytes, .data = bytes.data()},
                                                "wo");
      TwinBuffer y_direct = Empty(sizeof(float) * n_tokens * 32), y_copied = Empty(sizeof(float) * n_tokens * 32);
      TwinBuffer copied = Empty(sizeof(float) * got.size());
      ASSERT_TRUE(gpu_->MatMul(wo, p.out, n_tokens, y_direct.g<float>()).ok());  // right after Attention
      ASSERT_TRUE(gpu_->CopyToDevice(copied.g<float>(), got.data(), sizeof(float) * got.size()).ok());
      ASSERT_TRUE(gpu_->MatMul(wo, copied.g<float>(), n_tokens, y_copied.g<float>()).ok());
      EXPECT_EQ(Download<float>(y_direct), Download<float>(y_copied)) << "head_dim " << head_dim;
    }
  }

  kernels::KvCacheType kv_type_ = kernels::KvCacheType::kF32;
};

// Tables of 20 blocks (a bound of 320 positions): the decode batch splits its contexts over
// shares of 32 positions (head dims up to 128 and multiples of 32; 256 takes the per-head kernel).
TEST_F(CudaAttentionTest, DecodeBatchOfThreeSequences) {
  for (int32_t head_dim : {64, 96, 128, 256}) {  // 96: lanes past the row idle; 256: two float4s a lane
    Check(head_dim, 8, 2, {0, 1, 2}, {0, 129, 319});
    Check(head_dim, 4, 4, {2, 0, 1}, {200, 17, 255});
  }
}

// Tables of 16 blocks (a bound of 256 positions, kAttentionSplitMinContext): one block per head
// over the whole context, unsplit.
TEST_F(CudaAttentionTest, DecodeShortContextsUnsplit) {
  for (int32_t head_dim : {64, 128}) {
    Check(head_dim, 8, 2, {0, 1, 2}, {0, 129, 255}, /*max_blocks=*/16);
    Check(head_dim, 16, 2, {1, 2, 0, 1}, {63, 7, 200, 64}, /*max_blocks=*/16);
  }
}

// Long contexts: tables of 2,048 blocks (a bound of 32,768 positions) take 128 shares a KV head;
// 20,000 positions make shares of 160 (more than one chunk of the block's 128), 4,096 of 32, and
// short contexts in the same batch one or a few shares. Query heads in groups of 8, 4, 2 and 1,
// and a batch of 8 tokens (the most that splits).
TEST_F(CudaAttentionTest, DecodeLongContextsSplit) {
  const int32_t max_blocks = 2048, n_blocks = 1280;
  for (int32_t head_dim : {64, 128}) {
    Check(head_dim, 16, 2, {0, 1, 2}, {19999, 4095, 30}, max_blocks, n_blocks);
    Check(head_dim, 8, 2, {2, 0, 1}, {1000, 8999, 513}, max_blocks, n_blocks);
    Check(head_dim, 8, 4, {1}, {6000}, max_blocks, n_blocks);
    Check(head_dim, 4, 4, {0, 2}, {5000, 2047}, max_blocks, n_blocks);
  }
  Check(96, 8, 2, {0, 1}, {3000, 700}, max_blocks, n_blocks);
  Check(128, 16, 2, {0, 0, 1, 1, 2, 2, 0, 1}, {100, 2000, 3000, 4000, 5000, 6000, 7000, 19000}, max_blocks, n_blocks);
}

// Over 8 tokens, query heads sharing KV heads in groups of 2, 4 or 8 (head dims up to 128) take
// the grouped kernel; the other groups (1, 3) and head dims (256) the per-head one.
TEST_F(CudaAttentionTest, PrefillChunkAndDecodeToken) {
  for (int32_t head_dim : {64, 96, 128, 256}) {
    std::vector<int32_t> seq, pos;
    for (int32_t i = 0; i < 40; ++i) {
      seq.push_back(1);
      pos.push_back(100 + i);  // a chunk continuing a cached prefix
    }
    seq.push_back(0);
    pos.push_back(300);
    for (int32_t n_head_kv : {16, 8, 4, 2}) Check(head_dim, 16, n_head_kv, seq, pos);
    Check(head_dim, 12, 4, seq, pos);
  }
}

// A half cache through every kernel: the per-head decode kernel (short contexts; head dims of
// 256, groups of 3), split decode (groups of 8, 4, 2, 1, shares longer than a chunk), and grouped
// prefill. The CPU reads the same half values back exactly, so the tolerance is the float one's.
TEST_F(CudaAttentionTest, HalfCacheInEveryKernel) {
  kv_type_ = kernels::KvCacheType::kF16;
  for (int32_t head_dim : {64, 128}) {
    Check(head_dim, 8, 2, {0, 1, 2}, {0, 129, 255}, /*max_blocks=*/16);
    Check(head_dim, 16, 2, {0, 1, 2}, {19999, 4095, 30}, 2048, 1280);
    Check(head_dim, 8, 4, {1, 0}, {6000, 300}, 2048, 1280);
    Check(head_dim, 4, 4, {0, 2}, {5000, 2047}, 2048, 1280);
  }
  Check(96, 8, 2, {0, 1}, {3000, 700}, 2048, 1280);
  Check(256, 12, 4, {0, 1, 2}, {0, 129, 319});
  std::vector<int32_t> seq, pos;
  for (int32_t i = 0; i < 40; ++i) {
    seq.push_back(1);
    pos.push_back(100 + i);
  }
  seq.push_back(0);
  pos.push_back(300);
  for (int32_t n_head_kv : {8, 4, 2}) Check(128, 16, n_head_kv, seq, pos);
  Check(128, 12, 4, seq, pos);
}

}  // namespace
}  // namespace hobbit::runtime
