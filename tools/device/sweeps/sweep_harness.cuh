// What the sweep programs of this folder share: errors, CUDA-event timing as cuda-kernel-bench
// does it, the device-to-device copy bandwidth, random weight copies, the activations and their
// int8 copy, and the one-token timing with and without the quantize kernel before each call.
// Included after the kernel .cu a sweep times (so QuantizeXKernel, LaunchAfterPrior and GridFor
// are declared), in one translation unit per program.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

namespace sweep {

using hobbit::kernels::cuda_internal::GridFor;
using hobbit::kernels::cuda_internal::kQ8;
using hobbit::kernels::cuda_internal::LaunchAfterPrior;
using hobbit::kernels::cuda_internal::QuantizeXKernel;

inline void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Median microseconds of one call of fn(i), timed in `batches` batches of `per_batch` calls after
// one untimed batch.
template <typename F>
double MedianUs(F&& fn, int per_batch, int batches) {
  cudaEvent_t start, stop;
  Check(cudaEventCreate(&start), "event");
  Check(cudaEventCreate(&stop), "event");
  for (int i = 0; i < per_batch; ++i) fn(i);
  Check(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> v;
  for (int b = 0; b < batches; ++b) {
    Check(cudaEventRecord(start), "record");
    for (int i = 0; i < per_batch; ++i) fn(i);
    Check(cudaEventRecord(stop), "record");
    Check(cudaEventSynchronize(stop), "sync");
    float t = 0;
    Check(cudaEventElapsedTime(&t, start, stop), "elapsed");
    v.push_back(1e3 * t / per_batch);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Bytes read + written per second by a 1 GiB device-to-device copy.
inline double CopyBandwidth() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  Check(cudaMalloc(&a, bytes), "malloc");
  Check(cudaMalloc(&b, bytes), "malloc");
  const double us = MedianUs([&](int) { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); }, 3, 7);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes / (us * 1e-6);
}

// Enough copies of `bytes` of random bytes that together they exceed 4x a 60 MB L2, so each call
// reads HBM. Every other byte is made the high byte of a normal fp16 (the scales' time does not
// depend on their values, but no NaN should reach a comparison).
struct Weights {
  uint8_t* w = nullptr;
  size_t bytes = 0;
  int copies = 0;
  const uint8_t* Copy(int k) const { return w + static_cast<size_t>(k) * bytes; }
};

inline Weights RandomWeights(size_t bytes, std::mt19937& rng) {
  Weights ws;
  ws.bytes = bytes;
  ws.copies = static_cast<int>(std::max<size_t>(2, (4 * (size_t{60} << 20)) / bytes + 1));
  std::vector<uint8_t> host(bytes);
  for (auto& b : host) b = rng() & 0xFF;
  for (size_t k = 1; k < bytes; k += 2) host[k] = (host[k] & 0x83) | 0x30;
  Check(cudaMalloc(&ws.w, bytes * ws.copies), "malloc weights");
  for (int k = 0; k < ws.copies; ++k) {
    Check(cudaMemcpy(ws.w + k * bytes, host.data(), bytes, cudaMemcpyHostToDevice), "copy weights");
  }
  return ws;
}

// One token's activations (up to 16384 wide), their int8 copy, two outputs and the machine's
// copy bandwidth and multiprocessors.
struct Ctx {
  float* x = nullptr;
  int8_t* xq = nullptr;
  float4* xm = nullptr;
  float* y = nullptr;
  float* y2 = nullptr;
  double copy_bps = 0;
  int sms = 0;
};

inline Ctx MakeCtx(std::mt19937& rng) {
  constexpr int kMaxCols = 16384;
  Ctx c;
  c.copy_bps = CopyBandwidth();
  cudaDeviceProp prop;
  Check(cudaGetDeviceProperties(&prop, 0), "device properties");
  c.sms = prop.multiProcessorCount;
  std::printf("copy %.0f GB/s, %d SMs\n", c.copy_bps / 1e9, c.sms);
  std::vector<float> hx(kMaxCols);
  std::normal_distribution<float> d(0, 1);
  for (auto& v : hx) v = d(rng);
  Check(cudaMalloc(&c.x, 4 * kMaxCols), "x");
  Check(cudaMemcpy(c.x, hx.data(), 4 * kMaxCols, cudaMemcpyHostToDevice), "x");
  Check(cudaMalloc(&c.xq, kMaxCols), "xq");
  Check(cudaMalloc(&c.xm, kMaxCols / kQ8 * 16), "xm");
  Check(cudaMalloc(&c.y, 4 * kMaxCols), "y");
  Check(cudaMalloc(&c.y2, 4 * kMaxCols), "y2");
  QuantizeXKernel<<<GridFor(kMaxCols / kQ8, 4), 128>>>(c.x, kMaxCols / kQ8, c.xq, c.xm);
  Check(cudaDeviceSynchronize(), "quantize x");
  return c;
}

// Times launch(copy index) over the weight copies, with the activation quantization kernel before
// each call (q) and without (-), and prints one line each.
template <typename L>
void TimeOneToken(const char* type, const std::string& name, const Weights& ws, int64_t rows, int64_t cols,
                  const Ctx& c, L&& launch) {
  const int64_t n_q8 = cols / kQ8;
  for (int q : {1, 0}) {
    const double us = MedianUs(
        [&](int i) {
          if (q) LaunchAfterPrior(QuantizeXKernel, GridFor(n_q8, 4), 128, nullptr, (const float*)c.x, n_q8, c.xq, c.xm);
          launch(i % ws.copies);
        },
        4 * ws.copies, 15);
    Check(cudaGetLastError(), name.c_str());
    const double bps = ws.bytes / (us * 1e-6);
    std::printf("%-5s %6lld %6lld %-22s %s %8.2f us %6.0f GB/s %5.1f%%\n", type, (long long)rows, (long long)cols,
                name.c_str(), q ? "q" : "-", us, bps / 1e9, 100 * bps / c.copy_bps);
  }
}

// The largest |a - b| / (|b| + 1e-3) over rows of two device outputs.
inline double LargestDifference(const float* a_dev, const float* b_dev, int64_t rows) {
  std::vector<float> a(rows), b(rows);
  Check(cudaMemcpy(a.data(), a_dev, 4 * rows, cudaMemcpyDeviceToHost), "copy y");
  Check(cudaMemcpy(b.data(), b_dev, 4 * rows, cudaMemcpyDeviceToHost), "copy y");
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) worst = std::max(worst, std::fabs(a[r] - b[r]) / (std::fabs(b[r]) + 1e-3));
  return worst;
}

// The types named on the command line (all when none); a name the program does not sweep ends it
// with a message naming the ones it does.
struct TypeFilter {
  std::vector<std::string> only;
  TypeFilter(int argc, char** argv, std::initializer_list<const char*> known) : only(argv + 1, argv + argc) {
    for (const std::string& t : only) {
      if (std::find_if(known.begin(), known.end(), [&](const char* k) { return t == k; }) != known.end()) continue;
      std::string names;
      for (const char* k : known) names += std::string(names.empty() ? "" : ", ") + k;
      std::fprintf(stderr, "%s: unknown type '%s' (this sweep knows %s)\n", argv[0], t.c_str(), names.c_str());
      std::exit(2);
    }
  }
  bool operator()(const char* t) const { return only.empty() || std::find(only.begin(), only.end(), t) != only.end(); }
};

}  // namespace sweep

// Library functions the included kernel file refers to on paths these sweeps never take (linking
// the kernels library instead would define the included kernels twice).
namespace hobbit::kernels {
namespace cuda_internal {
absl::Status LaunchStatus(const char*) { return absl::OkStatus(); }
}  // namespace cuda_internal
std::string GgmlTypeName(uint32_t) { return "t"; }
}  // namespace hobbit::kernels
