// The CUDA kernels' capability checks on the host (no GPU: they read only shapes and addresses,
// which are never dereferenced here): the buffer-free forms a caller uses before it reserves
// buffers agree with the full checks once the buffers are there. Runs in CI.
#include <cstdint>

#include <gtest/gtest.h>

#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/routed_experts.h"

namespace hobbit::kernels {
namespace {

alignas(256) char g_space[4096];  // addresses only

template <typename T>
T* At(size_t offset) {
  return reinterpret_cast<T*>(g_space + offset);
}

RoutedMatrix Q8Matrix(int64_t rows, int64_t cols) {
  return {.type = GgmlType::kQ8_0, .rows = rows, .cols = cols, .row_bytes = cols / 32 * 34,
          .table = At<const void* const>(0)};
}

RoutedExpertsParams Experts(int32_t n_tokens, int32_t k) {
  return {.gate = Q8Matrix(1024, 512), .up = Q8Matrix(1024, 512), .down = Q8Matrix(512, 1024), .n_expert = 8,
          .x = At<const float>(256), .n_tokens = n_tokens, .k = k};
}

TEST(RoutedExpertsCapability, ShapeFitsTakesTheGroupingAsAFlagAndACount) {
  const RoutedExpertsParams decode = Experts(8, 2);
  EXPECT_TRUE(RoutedExpertsShapeFits(decode, false, 0));
  EXPECT_TRUE(RoutedExpertsCanRun(decode));
  // 45 tokens x top-4: past the ungrouped limit, within the grouped one.
  const RoutedExpertsParams prefill = Experts(45, 4);
  ASSERT_GT(45 * 4, kRoutedExpertsMaxPairs);
  EXPECT_FALSE(RoutedExpertsShapeFits(prefill, false, 0));
  EXPECT_TRUE(RoutedExpertsShapeFits(prefill, true, 8));
  EXPECT_FALSE(RoutedExpertsShapeFits(prefill, true, 0));
  EXPECT_FALSE(RoutedExpertsShapeFits(prefill, true, 65536));
  EXPECT_FALSE(RoutedExpertsShapeFits(Experts(kRoutedExpertsMaxGroupedPairs / 4 + 1, 4), true, 8));
  // The full check: a grouping's three buffers, all or none.
  RoutedExpertsParams grouped = prefill;
  grouped.groups = {.expert = At<const int32_t>(512), .start = At<const int32_t>(1024), .pairs = nullptr, .n = 8};
  EXPECT_FALSE(RoutedExpertsCanRun(grouped));
  grouped.groups.pairs = At<const int32_t>(1536);
  EXPECT_TRUE(RoutedExpertsCanRun(grouped));
  grouped.groups.n = 0;
  EXPECT_FALSE(RoutedExpertsCanRun(grouped));
  // Shapes still count: an up matrix of another width fails either way.
  RoutedExpertsParams bad = prefill;
  bad.up = Q8Matrix(1024, 256);
  EXPECT_FALSE(RoutedExpertsShapeFits(bad, true, 8));
}

TEST(RmsNormRouteCapability, FitsIsCanRunWithoutTheBuffers) {
  const RmsNormParams p{.x = At<const float>(0), .weight = At<const float>(1024), .n_rows = 2, .dim = 4096,
                        .out = At<float>(2048)};
  NormRouteParams r{.w = At<const void>(512), .type = GgmlType::kF32, .row_bytes = 4096 * 4, .n_expert = 8, .k = 2,
                    .logits = At<float>(3072), .ids = At<int32_t>(3200), .weights = At<float>(3328)};
  EXPECT_TRUE(RmsNormQuantizeRouteFits(p, r));
  EXPECT_FALSE(RmsNormQuantizeRouteCanRun(p, nullptr, r));           // no int8 buffer
  EXPECT_FALSE(RmsNormQuantizeRouteCanRun(p, At<void>(3456), r));    // no scratch
  r.scratch = At<void>(3464);                                         // 8-byte aligned
  EXPECT_FALSE(RmsNormQuantizeRouteCanRun(p, At<void>(3456), r));
  r.scratch = At<void>(3472);
  EXPECT_TRUE(RmsNormQuantizeRouteCanRun(p, At<void>(3456), r));
  EXPECT_FALSE(RmsNormQuantizeRouteCanRun(p, At<void>(3458), r));    // int8 buffer misaligned
  // A router the kernel cannot take fails both.
  r.k = 9;
  EXPECT_FALSE(RmsNormQuantizeRouteFits(p, r));
  EXPECT_FALSE(RmsNormQuantizeRouteCanRun(p, At<void>(3456), r));
  r.k = 2;
  RmsNormParams in_place = p;
  in_place.out = const_cast<float*>(p.x);
  EXPECT_FALSE(RmsNormQuantizeRouteFits(in_place, r));
}

}  // namespace
}  // namespace hobbit::kernels
