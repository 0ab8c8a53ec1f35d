// Launch-shape sweep of the one-token dot kernel (kernels/cuda/quant_matvec.cu, included so its
// internal templates can be launched directly) on the GPU: for each integer type at 14336x4096,
// 4096x14336 and 4096x4096, every DotShape below, with the activation quantization kernel before
// each call (q) and without (-), as cuda-kernel-bench times them (CUDA-event medians, weight
// copies rotated past the L2). Random bytes stand in for the weights (the time does not depend on
// the values; every fp16 scale is kept normal). An offline tool for picking OneTokenShape, not
// part of the build (BENCHMARKS.md, "Matvec launch shapes"). Build and run (sm_90):
//
//   nvcc -I. -O3 -DNDEBUG -arch=sm_90 -std=c++20 tools/device/sweeps/dot_shapes.cu -o build-exp/dot_shapes \
//     -labsl_strings -labsl_status
//   (bundle the absl libraries it names in ldd next to it, as tools/device/bundle.sh does)
//   build-exp/dot_shapes [TYPE...]          # e.g. Q4_K Q8_0: only those types
#include "kernels/cuda/quant_matvec.cu"

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace hobbit::kernels;
using namespace hobbit::kernels::cuda_internal;

// Library functions the included file refers to on paths these sweeps never take (linking the
// kernels library instead would define the included kernels twice).
namespace hobbit::kernels {
namespace cuda_internal { absl::Status LaunchStatus(const char*) { return absl::OkStatus(); } }
std::string GgmlTypeName(uint32_t) { return "t"; }
}

static void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) { std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e)); std::exit(1); }
}

template <typename F>
double MedianUs(F&& fn, int per_batch, int batches) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start); cudaEventCreate(&stop);
  for (int i = 0; i < per_batch; ++i) fn(i);
  Check(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> v;
  for (int b = 0; b < batches; ++b) {
    cudaEventRecord(start);
    for (int i = 0; i < per_batch; ++i) fn(i);
    cudaEventRecord(stop);
    Check(cudaEventSynchronize(stop), "sync");
    float t = 0; cudaEventElapsedTime(&t, start, stop);
    v.push_back(1e3 * t / per_batch);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Ctx { float* x; int8_t* xq; float4* xm; float* y; double copy; };

template <class T, class S>
void Time(const char* type, const char* name, const uint8_t* w, size_t bytes, int copies, int64_t rows, int64_t cols,
          int64_t row_bytes, const Ctx& c) {
  const int64_t n_q8 = cols / kQ8;
  for (int q : {1, 0}) {
    const double us = MedianUs([&](int i) {
      if (q) LaunchAfterPrior(QuantizeXKernel, GridFor(n_q8, 4), 128, nullptr, (const float*)c.x, n_q8, c.xq, c.xm);
      QuantMatVecParams p{.type = GgmlType::kQ8_0, .w = w + (i % copies) * bytes, .rows = rows, .cols = cols,
                          .row_bytes = row_bytes, .x = c.x, .n_tokens = 1, .y = c.y};
      LaunchDot<T, 1, S>(&p, 1, c.xq, c.xm, nullptr);
    }, 4 * copies, 15);
    Check(cudaGetLastError(), "launch");
    const double gbps = bytes / (us * 1e-6) / 1e9;
    std::printf("%-5s %6lld %6lld %-16s %s %8.2f us %6.0f GB/s %5.1f%%\n", type, (long long)rows, (long long)cols, name,
                q ? "q" : "-", us, gbps, 100 * gbps / c.copy);
  }
}

template <class T>
void Sweep(const char* type, int64_t block_bytes, int64_t block_elems, const Ctx& c, std::mt19937& rng) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{14336, 4096}, {4096, 14336}, {4096, 4096}}) {
    const int64_t row_bytes = cols / block_elems * block_bytes;
    const size_t bytes = rows * row_bytes;
    const int copies = static_cast<int>(std::max<size_t>(2, (4 * size_t{60} << 20) / bytes + 1));
    std::vector<uint8_t> host(bytes);
    for (auto& b : host) b = rng() & 0xFF;
    for (size_t k = 1; k < bytes; k += 2) host[k] = (host[k] & 0x83) | 0x30;
    uint8_t* w = nullptr;
    Check(cudaMalloc(&w, bytes * copies), "malloc w");
    for (int k = 0; k < copies; ++k) cudaMemcpy(w + k * bytes, host.data(), bytes, cudaMemcpyHostToDevice);
#define T_(...) Time<T, DotShape<__VA_ARGS__>>(type, #__VA_ARGS__, w, bytes, copies, rows, cols, row_bytes, c)
    T_(128, 4, 1);
    T_(128, 2, 2);
    T_(128, 4, 1, 8);
    T_(128, 4, 1, 6);
    T_(128, 2, 2, 8);
    T_(128, 2, 2, 6);
    T_(64, 4, 1);
    T_(64, 2, 2);
    T_(128, 2, 1);
    T_(256, 2, 1);
#undef T_
    cudaFree(w);
  }
}

int main(int argc, char** argv) {
  // Optional arguments: the types to sweep (e.g. Q4_K Q8_0), for a profiler run; default all.
  const std::vector<std::string> only(argv + 1, argv + argc);
  const auto wanted = [&](const char* t) { return only.empty() || std::find(only.begin(), only.end(), t) != only.end(); };
  const size_t bytes = size_t{1} << 30;
  void *a, *b;
  cudaMalloc(&a, bytes); cudaMalloc(&b, bytes);
  Ctx c{};
  c.copy = 2.0 * bytes / (MedianUs([&](int) { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); }, 3, 7) * 1e-6) / 1e9;
  cudaFree(a); cudaFree(b);
  std::printf("copy %.0f GB/s\n", c.copy);
  std::mt19937 rng(7);
  Check(cudaMalloc(&c.x, 4 * 16384), "x");
  std::vector<float> hx(16384);
  std::normal_distribution<float> d(0, 1);
  for (auto& v : hx) v = d(rng);
  cudaMemcpy(c.x, hx.data(), 4 * 16384, cudaMemcpyHostToDevice);
  Check(cudaMalloc(&c.xq, 16384), "xq");
  Check(cudaMalloc(&c.xm, 16384 / 32 * 16), "xm");
  Check(cudaMalloc(&c.y, 4 * 16384), "y");
  QuantizeXKernel<<<128, 128>>>(c.x, 16384 / 32, c.xq, c.xm);
  if (wanted("Q8_0")) Sweep<Q8_0Dot<1>>("Q8_0", 34, 32, c, rng);
  if (wanted("Q4_0")) Sweep<Q45Dot<false, false, 1>>("Q4_0", 18, 32, c, rng);
  if (wanted("Q4_1")) Sweep<Q45Dot<true, false, 1>>("Q4_1", 20, 32, c, rng);
  if (wanted("Q5_0")) Sweep<Q45Dot<false, true, 1>>("Q5_0", 22, 32, c, rng);
  if (wanted("Q5_1")) Sweep<Q45Dot<true, true, 1>>("Q5_1", 24, 32, c, rng);
  if (wanted("Q2_K")) Sweep<Q2_KDot>("Q2_K", 84, 256, c, rng);
  if (wanted("Q3_K")) Sweep<Q3_KDot>("Q3_K", 110, 256, c, rng);
  if (wanted("Q4_K")) Sweep<QxKDot<false>>("Q4_K", 144, 256, c, rng);
  if (wanted("Q5_K")) Sweep<QxKDot<true>>("Q5_K", 176, 256, c, rng);
  if (wanted("Q6_K")) Sweep<Q6_KDot>("Q6_K", 210, 256, c, rng);
  return 0;
}
