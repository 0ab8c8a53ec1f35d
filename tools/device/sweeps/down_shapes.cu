// Launch-shape sweep of the one-token down product (DownCombineKernel, kernels/cuda/routed_experts.cu,
// included so its internal templates can be launched directly) on the GPU: the mixtral-8x7b
// shape (4096x14336, 8 experts, top-2) and qwen3-30b-a3b's (2048x768, 128 experts, top-8) for
// several types, each (rows per block, items in flight) pair, with a small kernel before each
// call (q) and without (-); the chosen experts rotate so every call reads HBM. Random bytes stand
// in for the weights. An offline tool for picking DownShape, not part of the build (BENCHMARKS.md,
// "Matvec launch shapes"). Build as tools/device/sweeps/dot_shapes.cu says.
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/cuda/routed_experts.cu"
#include "tools/device/sweeps/sweep_harness.cuh"

using namespace hobbit::kernels;
using namespace hobbit::kernels::cuda_internal;
using sweep::Check;
using sweep::MedianUs;

struct Setup {
  int n_expert, k;
  int64_t rows, cols, row_bytes;
  void** table;
  int32_t* ids;  // [calls][k]
  float* weights;
  int8_t* aq;
  float4* am;
  float* af;
  float* out;
  float* x;
  size_t bytes_per_call;
};

template <class T, int R, int U>
void Time(const char* type, const char* name, const Setup& s, int rot, double copy) {
  const unsigned grid = static_cast<unsigned>((s.rows + R - 1) / R);
  const int64_t n_items = s.cols / T::kBlockElems * T::kSubs * s.k;
  const int threads = static_cast<int>(std::min<int64_t>(kThreads, (n_items + 31) / 32 * 32));
  const int64_t n_q8 = s.cols * s.k / kQ8;
  for (int q : {0, 1}) {
    const double us = MedianUs(
        [&](int i) {
          // q = 1: a small kernel between the calls as in the layer (silu+quantize), so the product cannot start early
          if (q) LaunchAfterPrior(QuantizeXKernel, GridFor(n_q8, 4), 128, nullptr, (const float*)s.x, n_q8, s.aq, s.am);
          LaunchAfterPrior(DownCombineKernel<T, R, U>, grid, threads, nullptr, (const void* const*)s.table,
                           (const int32_t*)(s.ids + (i % rot) * s.k), (const float*)s.weights, s.k, s.n_expert, s.rows,
                           s.cols, s.row_bytes, (const int8_t*)s.aq, (const float4*)s.am, (const float*)s.af, s.out);
        },
        4 * rot, 15);
    Check(cudaGetLastError(), "launch");
    const double gbps = s.bytes_per_call / (us * 1e-6) / 1e9;
    std::printf("%-5s %5lld x %5lld k%d %-10s %s %8.2f us %6.0f GB/s %5.1f%%\n", type, (long long)s.rows,
                (long long)s.cols, s.k, name, q ? "q" : "-", us, gbps, 100 * gbps / copy);
  }
}

template <class T>
void Run(const char* type, int64_t block_bytes, int64_t block_elems, int n_expert, int k, int64_t rows, int64_t cols,
         double copy, std::mt19937& rng) {
  Setup s{};
  s.n_expert = n_expert;
  s.k = k;
  s.rows = rows;
  s.cols = cols;
  s.row_bytes = cols / block_elems * block_bytes;
  const size_t eb = rows * s.row_bytes;
  std::vector<uint8_t> host(eb);
  for (auto& b : host) b = rng() & 0xFF;
  for (size_t i = 1; i < eb; i += 2) host[i] = (host[i] & 0x83) | 0x30;
  uint8_t* w;
  Check(cudaMalloc(&w, eb * n_expert), "w");
  for (int e = 0; e < n_expert; ++e) cudaMemcpy(w + e * eb, host.data(), eb, cudaMemcpyHostToDevice);
  std::vector<void*> tab(n_expert);
  for (int e = 0; e < n_expert; ++e) tab[e] = w + e * eb;
  Check(cudaMalloc(&s.table, sizeof(void*) * n_expert), "t");
  cudaMemcpy(s.table, tab.data(), sizeof(void*) * n_expert, cudaMemcpyHostToDevice);
  const int rot = 16;
  std::vector<int32_t> ids(rot * k);
  for (int c = 0; c < rot; ++c) {  // distinct experts per call, rotating
    for (int j = 0; j < k; ++j) ids[c * k + j] = (c * k + j) % n_expert;
  }
  Check(cudaMalloc(&s.ids, 4 * ids.size()), "ids");
  cudaMemcpy(s.ids, ids.data(), 4 * ids.size(), cudaMemcpyHostToDevice);
  std::vector<float> wts(k, 0.5f);
  Check(cudaMalloc(&s.weights, 4 * k), "w");
  cudaMemcpy(s.weights, wts.data(), 4 * k, cudaMemcpyHostToDevice);
  Check(cudaMalloc(&s.x, 4 * cols * k), "x");
  std::vector<float> hx(cols * k);
  std::normal_distribution<float> d(0, 1);
  for (auto& v : hx) v = d(rng);
  cudaMemcpy(s.x, hx.data(), 4 * hx.size(), cudaMemcpyHostToDevice);
  Check(cudaMalloc(&s.aq, cols * k), "aq");
  Check(cudaMalloc(&s.am, cols * k / 32 * 16), "am");
  s.af = s.x;
  Check(cudaMalloc(&s.out, 4 * rows), "out");
  const int64_t nq8 = cols * k / 32;
  QuantizeXKernel<<<GridFor(nq8, 4), 128>>>(s.x, nq8, s.aq, s.am);
  s.bytes_per_call = eb * k;
  Time<T, 4, 1>(type, "r4 u1 now", s, rot, copy);
  Time<T, 2, 2>(type, "r2 u2", s, rot, copy);
  Time<T, 2, 1>(type, "r2 u1", s, rot, copy);
  Time<T, 4, 2>(type, "r4 u2", s, rot, copy);
  Time<T, 1, 4>(type, "r1 u4", s, rot, copy);
  Time<T, 1, 2>(type, "r1 u2", s, rot, copy);
  cudaFree(w);
  cudaFree(s.table);
  cudaFree(s.ids);
  cudaFree(s.weights);
  cudaFree(s.x);
  cudaFree(s.aq);
  cudaFree(s.am);
  cudaFree(s.out);
}

int main() {
  const double copy = sweep::CopyBandwidth() / 1e9;
  std::printf("copy %.0f GB/s\n", copy);
  std::mt19937 rng(3);
  Run<Q8_0Dot<1>>("Q8_0", 34, 32, 8, 2, 4096, 14336, copy, rng);
  Run<Q45Dot<false, false, 1>>("Q4_0", 18, 32, 8, 2, 4096, 14336, copy, rng);
  Run<QxKDot<false>>("Q4_K", 144, 256, 8, 2, 4096, 14336, copy, rng);
  Run<Q6_KDot>("Q6_K", 210, 256, 8, 2, 4096, 14336, copy, rng);
  Run<Q2_KDot>("Q2_K", 84, 256, 8, 2, 4096, 14336, copy, rng);
  Run<Q8_0Dot<1>>("Q8_0", 34, 32, 128, 8, 2048, 768, copy, rng);
  Run<QxKDot<false>>("Q4_K", 144, 256, 128, 8, 2048, 768, copy, rng);
  Run<Q2_KDot>("Q2_K", 84, 256, 128, 8, 2048, 768, copy, rng);
  return 0;
}
// The one library function routed_experts.cu refers to that the harness does not stand in for
// (on a path this sweep never takes).
namespace hobbit::kernels {
absl::Status SiluMulF32(const float*, const float*, int64_t, float*, CUstream_st*) { return absl::OkStatus(); }
}  // namespace hobbit::kernels
