// Prototype (offline, not part of the build): a streaming one-token dot kernel against the
// production one. The production kernel (quant_matvec.cu, DotKernel) gives each block kRows rows
// and exits: each block loads, waits, dots, reduces and writes once, a few waves of short blocks.
// StreamDot keeps one resident wave of blocks; each block walks row groups g, g + gridDim.x, ...
// with the next group's parts loading while the current group's are dotted and reduced, so the
// loads of one group overlap the arithmetic and the block barrier of the one before. Timed as
// dot_shapes.cu times (the activation quantization kernel before each call: q; without: -).
// With XREG set in the environment it times XRegDotKernel instead (below). Build and run as
// tools/device/sweeps/dot_shapes.cu says (build-exp/stream_dot).
#include "kernels/cuda/quant_matvec.cu"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace hobbit::kernels;
using namespace hobbit::kernels::cuda_internal;

// Library functions the included file refers to on paths this prototype never takes.
namespace hobbit::kernels {
namespace cuda_internal { absl::Status LaunchStatus(const char*) { return absl::OkStatus(); } }
std::string GgmlTypeName(uint32_t) { return "t"; }
}

static void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) { std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e)); std::exit(1); }
}

// Rows of at most kThreads items (one item per thread and row).
template <class T, int kRows, int kThreads>
__global__ void __launch_bounds__(kThreads) StreamDotKernel(const uint8_t* __restrict__ w, int64_t rows,
                                                            int64_t row_bytes, int64_t cols,
                                                            const int8_t* __restrict__ xq,
                                                            const float4* __restrict__ xm,
                                                            const float* __restrict__ xf, float* __restrict__ y) {
  AllowDependentLaunch();
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  const int n_groups = static_cast<int>((rows + kRows - 1) / kRows);
  const int i = static_cast<int>(threadIdx.x);
  const bool active = i < n_items;
  const int64_t block_off = static_cast<int64_t>(i / T::kSubs) * T::kBlockBytes;
  const int sub = i % T::kSubs;
  typename T::Part cur[kRows], nxt[kRows];
  const auto load = [&](int g, typename T::Part (&p)[kRows]) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t row = min(static_cast<int64_t>(g) * kRows + r, rows - 1);
      if (active) T::Load(w + row * row_bytes + block_off, sub, p[r]);
    }
  };
  int g = static_cast<int>(blockIdx.x);
  if (g < n_groups) load(g, cur);
  WaitForPriorGrid();
  const int64_t e = static_cast<int64_t>(i / T::kSubs) * T::kBlockElems;
  const XBlocks xb{xq + e, xm + e / kQ8, xf + e};
  __shared__ float partial[2][kThreads / 32][kRows];
  const int warp = i / 32, lane = i % 32;
  for (int round = 0; g < n_groups; g += static_cast<int>(gridDim.x), ++round) {
    const int gn = g + static_cast<int>(gridDim.x);
    if (gn < n_groups) load(gn, nxt);
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = active ? T::Dot(cur[r], sub, xb) : 0.0f;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v = acc[r];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
      if (lane == 0) partial[round & 1][warp][r] = v;
    }
    __syncthreads();  // one barrier a group: the partials alternate between two buffers
    if (i < kRows && static_cast<int64_t>(g) * kRows + i < rows) {
      float v = 0.0f;
#pragma unroll
      for (int k = 0; k < kThreads / 32; ++k) v += partial[round & 1][k][i];
      y[static_cast<int64_t>(g) * kRows + i] = v;
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) cur[r] = nxt[r];
  }
}

// Activation slice kept across rows: a block takes kGroups groups of kRows rows (rows of at most
// kThreads items, one item per thread); each thread's activation slice is the same for every row,
// so it is loaded once (the loop over groups is not unrolled, so the compiler may keep the slice
// in registers), and the kGroups x kRows sums are reduced once at the end.
template <class T, int kRows, int kGroups, int kThreads>
__global__ void __launch_bounds__(kThreads) XRegDotKernel(const uint8_t* __restrict__ w, int64_t rows,
                                                          int64_t row_bytes, int64_t cols,
                                                          const int8_t* __restrict__ xq,
                                                          const float4* __restrict__ xm,
                                                          const float* __restrict__ xf, float* __restrict__ y) {
  AllowDependentLaunch();
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  const int i = static_cast<int>(threadIdx.x);
  const bool active = i < n_items;
  const int64_t block_off = static_cast<int64_t>(i / T::kSubs) * T::kBlockBytes;
  const int sub = i % T::kSubs;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRows * kGroups;
  const int64_t e = static_cast<int64_t>(i / T::kSubs) * T::kBlockElems;
  const XBlocks xb{xq + e, xm + e / kQ8, xf + e};
  float acc[kGroups][kRows];
  bool waited = false;
#pragma unroll 1
  for (int g = 0; g < kGroups; ++g) {
    typename T::Part part[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const int64_t row = min(row0 + g * kRows + r, rows - 1);
      if (active) T::Load(w + row * row_bytes + block_off, sub, part[r]);
    }
    if (!waited) {
      WaitForPriorGrid();
      waited = true;
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float v = active ? T::Dot(part[r], sub, xb) : 0.0f;
#pragma unroll
      for (int gg = 0; gg < kGroups; ++gg) {
        if (gg == g) acc[gg][r] = v;
      }
    }
  }
  __shared__ float partial[kThreads / 32][kGroups * kRows];
  const int warp = i / 32, lane = i % 32;
#pragma unroll
  for (int g = 0; g < kGroups; ++g) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v = acc[g][r];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
      if (lane == 0) partial[warp][g * kRows + r] = v;
    }
  }
  __syncthreads();
  if (i < kGroups * kRows && row0 + i < rows) {
    float v = 0.0f;
#pragma unroll
    for (int k = 0; k < kThreads / 32; ++k) v += partial[k][i];
    y[row0 + i] = v;
  }
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

struct Ctx { float* x; int8_t* xq; float4* xm; float* y; float* y2; double copy; int sms; };

template <typename L>
void Time(const char* type, const std::string& name, size_t bytes, int copies, int64_t rows, int64_t cols,
          const Ctx& c, L&& launch) {
  const int64_t n_q8 = cols / kQ8;
  for (int q : {1, 0}) {
    const double us = MedianUs([&](int i) {
      if (q) LaunchAfterPrior(QuantizeXKernel, GridFor(n_q8, 4), 128, nullptr, (const float*)c.x, n_q8, c.xq, c.xm);
      launch(i % copies);
    }, 4 * copies, 15);
    Check(cudaGetLastError(), "launch");
    const double gbps = bytes / (us * 1e-6) / 1e9;
    std::printf("%-5s %6lld %6lld %-22s %s %8.2f us %6.0f GB/s %5.1f%%\n", type, (long long)rows, (long long)cols,
                name.c_str(), q ? "q" : "-", us, gbps, 100 * gbps / c.copy);
  }
}

template <class T, int kRows>
void TimeStream(const char* type, const uint8_t* w, size_t bytes, int copies, int64_t rows, int64_t cols,
                int64_t row_bytes, const Ctx& c, int waves) {
  constexpr int kThreads = 128;
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, StreamDotKernel<T, kRows, kThreads>, kThreads, 0);
  const int n_groups = static_cast<int>((rows + kRows - 1) / kRows);
  const unsigned grid = static_cast<unsigned>(std::min(n_groups, c.sms * per_sm * waves));
  Time(type, "stream r" + std::to_string(kRows) + " x" + std::to_string(per_sm) + (waves > 1 ? " w2" : ""), bytes,
       copies, rows, cols, c, [&](int k) {
         LaunchAfterPrior(StreamDotKernel<T, kRows, kThreads>, grid, kThreads, nullptr, w + k * bytes, rows, row_bytes,
                          cols, (const int8_t*)c.xq, (const float4*)c.xm, (const float*)c.x, c.y);
       });
}

template <class T, int kRows, int kGroups>
void TimeXReg(const char* type, const uint8_t* w, size_t bytes, int copies, int64_t rows, int64_t cols,
              int64_t row_bytes, const Ctx& c) {
  constexpr int kThreads = 128;
  const unsigned grid = static_cast<unsigned>((rows + kRows * kGroups - 1) / (kRows * kGroups));
  Time(type, "xreg r" + std::to_string(kRows) + " g" + std::to_string(kGroups), bytes, copies, rows, cols, c,
       [&](int k) {
         LaunchAfterPrior(XRegDotKernel<T, kRows, kGroups, kThreads>, grid, kThreads, nullptr, w + k * bytes, rows,
                          row_bytes, cols, (const int8_t*)c.xq, (const float4*)c.xm, (const float*)c.x, c.y);
       });
}

template <class T>
void Run(const char* type, int64_t block_bytes, int64_t block_elems, const Ctx& c, std::mt19937& rng) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{14336, 4096}, {4096, 4096}, {6144, 4096}}) {
    const int64_t row_bytes = cols / block_elems * block_bytes;
    const size_t bytes = rows * row_bytes;
    const int copies = static_cast<int>(std::max<size_t>(2, (4 * size_t{60} << 20) / bytes + 1));
    std::vector<uint8_t> host(bytes);
    for (auto& b : host) b = rng() & 0xFF;
    for (size_t k = 1; k < bytes; k += 2) host[k] = (host[k] & 0x83) | 0x30;
    uint8_t* w = nullptr;
    Check(cudaMalloc(&w, bytes * copies), "malloc w");
    for (int k = 0; k < copies; ++k) cudaMemcpy(w + k * bytes, host.data(), bytes, cudaMemcpyHostToDevice);
    Time(type, "production", bytes, copies, rows, cols, c, [&](int k) {
      QuantMatVecParams p{.type = GgmlType::kQ8_0, .w = w + k * bytes, .rows = rows, .cols = cols,
                          .row_bytes = row_bytes, .x = c.x, .n_tokens = 1, .y = c.y2};
      LaunchDot<T, 1, typename OneTokenShape<T>::Short>(&p, 1, c.xq, c.xm, nullptr);
    });
    // The results must agree with the production kernel's (same items, same order per thread).
    cudaDeviceSynchronize();
    if (std::getenv("XREG") == nullptr) {
      TimeStream<T, 2>(type, w, bytes, copies, rows, cols, row_bytes, c, 1);
      TimeStream<T, 4>(type, w, bytes, copies, rows, cols, row_bytes, c, 1);
      TimeStream<T, 4>(type, w, bytes, copies, rows, cols, row_bytes, c, 2);
    } else {
      TimeXReg<T, 4, 2>(type, w, bytes, copies, rows, cols, row_bytes, c);
      TimeXReg<T, 4, 4>(type, w, bytes, copies, rows, cols, row_bytes, c);
      TimeXReg<T, 2, 4>(type, w, bytes, copies, rows, cols, row_bytes, c);
      TimeXReg<T, 2, 8>(type, w, bytes, copies, rows, cols, row_bytes, c);
    }
    {
      std::vector<float> a(rows), b(rows);
      cudaMemcpy(a.data(), c.y, 4 * rows, cudaMemcpyDeviceToHost);
      cudaMemcpy(b.data(), c.y2, 4 * rows, cudaMemcpyDeviceToHost);
      double worst = 0;
      for (int64_t r = 0; r < rows; ++r) worst = std::max(worst, (double)std::fabs(a[r] - b[r]) / (std::fabs(b[r]) + 1e-3));
      std::printf("%-5s %6lld %6lld last variant vs production: largest relative difference %.3g (last copy of each)\n",
                  type, (long long)rows, (long long)cols, worst);
    }
    cudaFree(w);
  }
}

int main(int argc, char** argv) {
  const std::vector<std::string> only(argv + 1, argv + argc);
  const auto wanted = [&](const char* t) { return only.empty() || std::find(only.begin(), only.end(), t) != only.end(); };
  const size_t bytes = size_t{1} << 30;
  void *a, *b;
  cudaMalloc(&a, bytes); cudaMalloc(&b, bytes);
  Ctx c{};
  c.copy = 2.0 * bytes / (MedianUs([&](int) { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); }, 3, 7) * 1e-6) / 1e9;
  cudaFree(a); cudaFree(b);
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  c.sms = prop.multiProcessorCount;
  std::printf("copy %.0f GB/s, %d SMs\n", c.copy, c.sms);
  std::mt19937 rng(7);
  Check(cudaMalloc(&c.x, 4 * 16384), "x");
  std::vector<float> hx(16384);
  std::normal_distribution<float> d(0, 1);
  for (auto& v : hx) v = d(rng);
  cudaMemcpy(c.x, hx.data(), 4 * 16384, cudaMemcpyHostToDevice);
  Check(cudaMalloc(&c.xq, 16384), "xq");
  Check(cudaMalloc(&c.xm, 16384 / 32 * 16), "xm");
  Check(cudaMalloc(&c.y, 4 * 16384), "y");
  Check(cudaMalloc(&c.y2, 4 * 16384), "y2");
  QuantizeXKernel<<<128, 128>>>(c.x, 16384 / 32, c.xq, c.xm);
  if (wanted("Q8_0")) Run<Q8_0Dot<1>>("Q8_0", 34, 32, c, rng);
  if (wanted("Q4_0")) Run<Q45Dot<false, false, 1>>("Q4_0", 18, 32, c, rng);
  if (wanted("Q4_1")) Run<Q45Dot<true, false, 1>>("Q4_1", 20, 32, c, rng);
  if (wanted("Q5_0")) Run<Q45Dot<false, true, 1>>("Q5_0", 22, 32, c, rng);
  if (wanted("Q2_K")) Run<Q2_KDot>("Q2_K", 84, 256, c, rng);
  if (wanted("Q3_K")) Run<Q3_KDot>("Q3_K", 110, 256, c, rng);
  if (wanted("Q4_K")) Run<QxKDot<false>>("Q4_K", 144, 256, c, rng);
  if (wanted("Q5_K")) Run<QxKDot<true>>("Q5_K", 176, 256, c, rng);
  if (wanted("Q6_K")) Run<Q6_KDot>("Q6_K", 210, 256, c, rng);
  return 0;
}
