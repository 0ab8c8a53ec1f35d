// quant-bench: single-thread throughput of DotRow and DotRowBatch per tensor type, in GB/s of
// weight bytes, on a rows x cols matrix (default 4096 x 14336, Mixtral's ffn_down shape). Times
// are the best of a few runs in thread CPU time, so other load on the machine skews them less.
//
//   quant-bench [rows] [cols] [batch] [type|all] [generic]   e.g. quant-bench 4096 14336 8 Q4_K
// "generic" forces the baseline (SSE2) variant instead of the one the CPU selects.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/base/ggml_type.h"
#include "kernels/quant/internal/dot_isa.h"
#include "kernels/quant/quantize.h"

namespace hobbit::kernels {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                               GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                               GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K,
                               GgmlType::kQ6_K};

// CPU time of this thread: on a shared machine, time spent descheduled does not count.
double ThreadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Best of `reps` runs of fn(), in seconds of thread CPU time.
template <class Fn>
double BestTime(int reps, Fn fn) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double start = ThreadSeconds();
    fn();
    best = std::min(best, ThreadSeconds() - start);
  }
  return best;
}

int Run(int64_t rows, int64_t cols, int64_t batch, const char* only, quant_internal::DotIsa isa) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(batch * cols);
  for (float& v : x) v = normal(rng);
  std::vector<float> y(batch * rows);
  std::printf("matrix %lld x %lld, one thread, dot variant %s\n", static_cast<long long>(rows),
              static_cast<long long>(cols),
              isa == quant_internal::DotIsa::kAvx2Fma ? "avx2+fma" : "generic");
  std::printf("%-6s %8s %10s %12s %16s %16s\n", "type", "MiB", "DotRow ms", "DotRow GB/s",
              "Batch GB/s (xT)", "Quantize Melem/s");
  for (GgmlType type : kTypes) {
    if (only != nullptr && std::strcmp(only, "all") != 0 && GgmlTypeName(type) != only) continue;
    const int64_t row_bytes = *GgmlRowBytes(static_cast<uint32_t>(type), cols);
    std::vector<uint8_t> w(rows * row_bytes);
    // 16 distinct rows (timed: QuantizeRow throughput), repeated over the matrix.
    constexpr int64_t kDistinctRows = 16;
    std::vector<float> src(kDistinctRows * cols);
    for (float& v : src) v = normal(rng);
    const double tq = BestTime(1, [&] {
      for (int64_t r = 0; r < kDistinctRows; ++r) {
        if (!QuantizeRow(type, src.data() + r * cols, w.data() + r * row_bytes, cols).ok())
          std::abort();
      }
    });
    for (int64_t r = kDistinctRows; r < rows; ++r) {
      std::copy_n(w.data() + (r % kDistinctRows) * row_bytes, row_bytes, w.data() + r * row_bytes);
    }
    const double bytes = static_cast<double>(w.size());
    const double t1 = BestTime(5, [&] {
      for (int64_t r = 0; r < rows; ++r) {
        quant_internal::DotRowBatchWithIsa(isa, type, w.data() + r * row_bytes, x.data(), cols, 1,
                                           cols, &y[r], 1);
      }
    });
    const double tb = BestTime(3, [&] {
      for (int64_t r = 0; r < rows; ++r) {
        quant_internal::DotRowBatchWithIsa(isa, type, w.data() + r * row_bytes, x.data(), cols,
                                           batch, cols, y.data() + r, rows);
      }
    });
    std::printf("%-6s %8.1f %10.2f %12.2f %11.2f (x%lld) %16.1f\n", GgmlTypeName(type).c_str(),
                bytes / (1 << 20), t1 * 1e3, bytes / t1 / 1e9, bytes / tb / 1e9,
                static_cast<long long>(batch),
                static_cast<double>(kDistinctRows * cols) / tq / 1e6);
  }
  return 0;
}

}  // namespace
}  // namespace hobbit::kernels

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4096;
  const int64_t cols = argc > 2 ? std::atoll(argv[2]) : 14336;
  const int64_t batch = argc > 3 ? std::atoll(argv[3]) : 8;
  if (rows <= 0 || cols <= 0 || cols % 256 != 0 || batch <= 0) {
    std::fprintf(
        stderr,
        "usage: quant-bench [rows] [cols, a multiple of 256] [batch] [type|all] [generic]\n");
    return 2;
  }
  namespace qi = hobbit::kernels::quant_internal;
  const bool generic = argc > 5 && std::strcmp(argv[5], "generic") == 0;
  return hobbit::kernels::Run(rows, cols, batch, argc > 4 ? argv[4] : nullptr,
                              generic ? qi::DotIsa::kGeneric : qi::SelectedDotIsa());
}
