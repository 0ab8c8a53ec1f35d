// cuda-kernel-bench: bandwidth of the quantized matrix-vector kernels on the GPU (not a test).
//
// Measures the device-to-device copy bandwidth (bytes read + written), then times QuantMatVec
// for every type at 14336x4096 and 4096x14336 with 1 and 8 tokens (and 256x4096 with 1, the
// fixed cost of a call): CUDA events around batches of launches after a warm-up, median of the
// batches, rotating over enough weight copies that they exceed the L2 cache several times. Each
// call includes the activation quantization of the fast path (a scratch buffer is given, as the
// CUDA backend does). Reports GB/s of weight bytes and the fraction of the copy bandwidth, as a
// table on stdout and JSON (--json PATH). Then the RMSNorm that routes (RmsNormQuantizeRouteF32)
// against the three kernels it replaces (RMSNorm with quantization, the float32 router product,
// the top-k) at the mixtral and qwen3-30b-a3b shapes, one token, router copies rotated past L2.
// Last, the prefill products (CudaQuantMatMul: decoded tiles and cuBLAS) at 14336x4096 and
// 4096x14336 with 128 and 512 tokens, FP16 operands (64, 32 and 16 MB tiles) against TF32 tiles
// (64 MB), in TFLOP/s.
//
//   cuda-kernel-bench --json bench.json
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/cuda/cublas_library.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/quant_matvec.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/router_topk.h"
#include "kernels/quant/quantize.h"

namespace hobbit::kernels {
namespace {

void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Median milliseconds of one call of fn, timed in batches of `per_batch` calls.
template <typename F>
double MedianMs(F&& fn, int per_batch, int batches) {
  cudaEvent_t start, stop;
  Check(cudaEventCreate(&start), "event");
  Check(cudaEventCreate(&stop), "event");
  for (int i = 0; i < per_batch; ++i) fn(i);  // warm-up
  Check(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> ms;
  for (int b = 0; b < batches; ++b) {
    Check(cudaEventRecord(start), "record");
    for (int i = 0; i < per_batch; ++i) fn(i);
    Check(cudaEventRecord(stop), "record");
    Check(cudaEventSynchronize(stop), "sync");
    float t = 0;
    Check(cudaEventElapsedTime(&t, start, stop), "elapsed");
    ms.push_back(t / per_batch);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double CopyBandwidth() {
  const size_t bytes = size_t{1} << 30;
  void* a = nullptr;
  void* b = nullptr;
  Check(cudaMalloc(&a, bytes), "malloc copy source");
  Check(cudaMalloc(&b, bytes), "malloc copy target");
  Check(cudaMemset(a, 1, bytes), "memset");
  const double ms = MedianMs([&](int) { Check(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice), "copy"); }, 5, 11);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes / (ms * 1e-3) / 1e9;
}

// A rows x cols weight of distinct random rows (a pool of quantized rows, repeated in turn).
std::vector<uint8_t> RandomWeight(GgmlType type, int64_t rows, int64_t cols, int64_t row_bytes, std::mt19937& rng) {
  constexpr int kPool = 61;
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint8_t> pool(kPool * row_bytes);
  std::vector<float> row(cols);
  for (int i = 0; i < kPool; ++i) {
    for (auto& v : row) v = dist(rng);
    if (!QuantizeRow(type, row.data(), pool.data() + i * row_bytes, cols).ok()) std::exit(2);
  }
  std::vector<uint8_t> w(rows * row_bytes);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(w.data() + r * row_bytes, pool.data() + (r % kPool) * row_bytes, row_bytes);
  return w;
}

struct Result {
  std::string type;
  int64_t rows, cols, n_tokens;
  double ms, gbps, fraction;
};

struct RouteResult {
  int64_t dim;
  int32_t n_expert, k;
  double separate_ms, fused_ms;
};

struct PrefillResult {
  std::string type, math;
  int64_t rows, cols, n_tokens, tile_mb;
  double ms, tflops;
};

// CudaQuantMatMul over n_tokens > 8 with the CUDA backend's default 64 MB of tiles, on one
// weight (a prefill product reads a weight once; decoding it dominates, not the L2).
std::vector<PrefillResult> TimePrefill(std::mt19937& rng) {
  const CublasLibrary* lib = *GetCublasLibrary();
  cublasContext* handles[2] = {nullptr, nullptr};  // f16, tf32
  for (cublasContext*& h : handles) {
    if (lib->create(&h) != 0 || lib->set_math_mode(h, kCublasTf32TensorOpMath) != 0) std::exit(5);
  }
  std::vector<PrefillResult> results;
  constexpr int64_t kMaxTokens = 512;
  float *x = nullptr, *y = nullptr;
  Check(cudaMalloc(&x, sizeof(float) * kMaxTokens * 14336), "malloc prefill x");
  Check(cudaMalloc(&y, sizeof(float) * kMaxTokens * 14336), "malloc prefill y");
  {
    std::vector<float> hx(kMaxTokens * 14336);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (auto& v : hx) v = dist(rng);
    Check(cudaMemcpy(x, hx.data(), sizeof(float) * hx.size(), cudaMemcpyHostToDevice), "copy prefill x");
  }
  const int64_t shapes[][2] = {{14336, 4096}, {4096, 14336}};
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ4_0}) {
    for (const auto& shape : shapes) {
      const int64_t rows = shape[0], cols = shape[1];
      const int64_t row_bytes = *GgmlRowBytes(static_cast<uint32_t>(type), cols);
      const std::vector<uint8_t> host = RandomWeight(type, rows, cols, row_bytes, rng);
      uint8_t* w = nullptr;
      Check(cudaMalloc(&w, host.size()), "malloc prefill weight");
      Check(cudaMemcpy(w, host.data(), host.size(), cudaMemcpyHostToDevice), "copy prefill weight");
      for (int32_t n : {128, 512}) {
        // FP16 tiles of 64 MB (the backend's default), and smaller ones the L2 cache may hold
        // between the decoding kernel and the product.
        for (int m = 0; m < 4; ++m) {
          const int64_t tile_mb = m < 2 ? 64 : (m == 2 ? 32 : 16);
          const CudaQuantMatMulParams p{.type = type, .w = w, .rows = rows, .cols = cols, .row_bytes = row_bytes,
                                        .x = x, .n_tokens = n, .y = y, .f16 = m != 1};
          const size_t ws_bytes = QuantMatMulWorkspaceBytes(p, size_t(tile_mb) << 20);
          void* ws = nullptr;
          Check(cudaMalloc(&ws, ws_bytes), "malloc prefill workspace");
          if (lib->set_stream(handles[m == 1], nullptr) != 0) std::exit(5);
          const double ms = MedianMs(
              [&](int) {
                if (!CudaQuantMatMul(p, ws, ws_bytes, handles[m == 1], nullptr).ok()) std::exit(6);
              },
              3, 7);
          results.push_back({GgmlTypeName(type), m == 1 ? "tf32" : "f16", rows, cols, n, tile_mb, ms,
                             2.0 * rows * cols * n / (ms * 1e-3) / 1e12});
          cudaFree(ws);
        }
      }
      cudaFree(w);
    }
  }
  cudaFree(x);
  cudaFree(y);
  for (cublasContext* h : handles) lib->destroy(h);
  return results;
}

std::vector<RouteResult> TimeRouting(const cudaDeviceProp& prop, const float* x, void* q8, std::mt19937& rng) {
  const struct {
    int64_t dim;
    int32_t n_expert, k;
  } shapes[] = {{4096, 8, 2}, {2048, 128, 8}};
  std::vector<RouteResult> results;
  for (const auto& shape : shapes) {
    const size_t bytes = sizeof(float) * shape.dim * shape.n_expert;
    const int copies = static_cast<int>((4 * static_cast<size_t>(prop.l2CacheSize)) / bytes + 1);
    std::vector<float> host(static_cast<size_t>(shape.dim) * shape.n_expert);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    for (float& v : host) v = dist(rng);
    uint8_t* w = nullptr;
    float *norm = nullptr, *out = nullptr, *logits = nullptr, *weights = nullptr;
    int32_t* ids = nullptr;
    void* route_scratch = nullptr;
    const size_t route_bytes = NormRouteScratchBytes(1, shape.dim, shape.n_expert);
    Check(cudaMalloc(&w, bytes * copies), "malloc router");
    for (int c = 0; c < copies; ++c) Check(cudaMemcpy(w + c * bytes, host.data(), bytes, cudaMemcpyHostToDevice), "copy");
    Check(cudaMalloc(&norm, sizeof(float) * shape.dim), "malloc");
    Check(cudaMemcpy(norm, x, sizeof(float) * shape.dim, cudaMemcpyDeviceToDevice), "copy norm");
    Check(cudaMalloc(&out, sizeof(float) * shape.dim), "malloc");
    Check(cudaMalloc(&logits, sizeof(float) * shape.n_expert), "malloc");
    Check(cudaMalloc(&weights, sizeof(float) * shape.k), "malloc");
    Check(cudaMalloc(&ids, sizeof(int32_t) * shape.k), "malloc");
    Check(cudaMalloc(&route_scratch, route_bytes), "malloc");
    Check(cudaMemset(route_scratch, 0, route_bytes), "zero");
    const RmsNormParams np{.x = x, .weight = norm, .n_rows = 1, .dim = shape.dim, .eps = 1e-5f, .out = out};
    const double separate = MedianMs(
        [&](int i) {
          const bool ok =
              RmsNormQuantizeF32(np, q8, nullptr).ok() &&
              QuantMatVec({.type = GgmlType::kF32, .w = w + (i % copies) * bytes, .rows = shape.n_expert,
                           .cols = shape.dim, .row_bytes = static_cast<int64_t>(sizeof(float)) * shape.dim, .x = out,
                           .n_tokens = 1, .y = logits},
                          nullptr)
                  .ok() &&
              RouterTopKF32({.logits = logits, .n_tokens = 1, .n_expert = shape.n_expert, .k = shape.k,
                             .ids = ids, .weights = weights},
                            nullptr)
                  .ok();
          if (!ok) std::exit(5);
        },
        copies, 15);
    const double fused = MedianMs(
        [&](int i) {
          const NormRouteParams r{.w = w + (i % copies) * bytes, .type = GgmlType::kF32,
                                  .row_bytes = static_cast<int64_t>(sizeof(float)) * shape.dim,
                                  .n_expert = shape.n_expert, .k = shape.k, .logits = logits, .ids = ids,
                                  .weights = weights, .scratch = route_scratch};
          if (!RmsNormQuantizeRouteF32(np, q8, r, nullptr).ok()) std::exit(6);
        },
        copies, 15);
    results.push_back({shape.dim, shape.n_expert, shape.k, separate, fused});
    for (void* p : {static_cast<void*>(w), static_cast<void*>(norm), static_cast<void*>(out),
                    static_cast<void*>(logits), static_cast<void*>(weights), static_cast<void*>(ids), route_scratch}) {
      cudaFree(p);
    }
  }
  return results;
}

}  // namespace
}  // namespace hobbit::kernels

int main(int argc, char** argv) {
  using namespace hobbit::kernels;
  std::string json_path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--json") json_path = argv[i + 1];
  }
  cudaDeviceProp prop;
  Check(cudaGetDeviceProperties(&prop, 0), "device properties");
  const double copy_gbps = CopyBandwidth();
  std::printf("device %s, %d SMs, L2 %d MB; device-to-device copy %.0f GB/s (read + write)\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, copy_gbps);
  const GgmlType types[] = {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                            GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K,
                            GgmlType::kF16,  GgmlType::kBF16, GgmlType::kF32};
  // The last shape is small: its time is mostly the fixed cost of a call (launches, the
  // activation quantization), measured with 1 token only.
  const int64_t shapes[][2] = {{14336, 4096}, {4096, 14336}, {256, 4096}};
  std::mt19937 rng(1234);
  std::vector<Result> results;
  float* x = nullptr;
  float* y = nullptr;
  Check(cudaMalloc(&x, sizeof(float) * 8 * 14336), "malloc x");
  Check(cudaMalloc(&y, sizeof(float) * 8 * 14336), "malloc y");
  const size_t scratch_bytes = QuantMatVecScratchBytes(14336, kQuantMatVecMaxTokens);
  void* scratch = nullptr;
  Check(cudaMalloc(&scratch, scratch_bytes), "malloc scratch");
  {
    std::vector<float> hx(8 * 14336);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (auto& v : hx) v = dist(rng);
    Check(cudaMemcpy(x, hx.data(), sizeof(float) * hx.size(), cudaMemcpyHostToDevice), "copy x");
  }
  for (GgmlType type : types) {
    for (const auto& shape : shapes) {
      const int64_t rows = shape[0], cols = shape[1];
      const int64_t row_bytes = *GgmlRowBytes(static_cast<uint32_t>(type), cols);
      const size_t bytes = static_cast<size_t>(rows * row_bytes);
      const std::vector<uint8_t> host = RandomWeight(type, rows, cols, row_bytes, rng);
      // Enough copies to exceed 4x the L2 cache, so every call reads HBM.
      const int copies = static_cast<int>(std::max<size_t>(2, (4 * static_cast<size_t>(prop.l2CacheSize)) / bytes + 1));
      uint8_t* w = nullptr;
      Check(cudaMalloc(&w, bytes * copies), "malloc weights");
      for (int c = 0; c < copies; ++c) Check(cudaMemcpy(w + c * bytes, host.data(), bytes, cudaMemcpyHostToDevice), "copy w");
      for (int32_t n_tokens : {1, 8}) {
        if (rows == 256 && n_tokens != 1) continue;
        const double ms = MedianMs(
            [&](int i) {
              QuantMatVecParams p{.type = type, .w = w + (i % copies) * bytes, .rows = rows, .cols = cols,
                                  .row_bytes = row_bytes, .x = x, .n_tokens = n_tokens, .y = y,
                                  .scratch = scratch, .scratch_bytes = scratch_bytes};
              if (!QuantMatVec(p, nullptr).ok()) std::exit(3);
            },
            4 * copies, 15);
        const double gbps = bytes / (ms * 1e-3) / 1e9;
        results.push_back({GgmlTypeName(type), rows, cols, n_tokens, ms, gbps, gbps / copy_gbps});
      }
      cudaFree(w);
    }
  }
  const std::vector<RouteResult> routing = TimeRouting(prop, x, scratch, rng);
  const std::vector<PrefillResult> prefill = TimePrefill(rng);
  Check(cudaDeviceSynchronize(), "final sync");
  std::string json = absl::StrCat("{\n  \"device\": \"", prop.name, "\",\n  \"copy_gbps\": ", copy_gbps,
                                  ",\n  \"matvec\": [\n");
  std::printf("%-6s %6s %6s %4s %9s %8s %7s\n", "type", "rows", "cols", "tok", "us", "GB/s", "of copy");
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    std::printf("%-6s %6lld %6lld %4lld %9.2f %8.0f %6.1f%%\n", r.type.c_str(), static_cast<long long>(r.rows),
                static_cast<long long>(r.cols), static_cast<long long>(r.n_tokens), r.ms * 1e3, r.gbps,
                100.0 * r.fraction);
    absl::StrAppend(&json, "    {\"type\": \"", r.type, "\", \"rows\": ", r.rows, ", \"cols\": ", r.cols,
                    ", \"n_tokens\": ", r.n_tokens, ", \"us\": ", r.ms * 1e3, ", \"gbps\": ", r.gbps,
                    ", \"fraction_of_copy\": ", r.fraction, "}", i + 1 < results.size() ? ",\n" : "\n");
  }
  json += "  ],\n  \"routing\": [\n";
  std::printf("\n%-5s %7s %4s %16s %16s\n", "dim", "experts", "k", "3 kernels us", "routing norm us");
  for (size_t i = 0; i < routing.size(); ++i) {
    const RouteResult& r = routing[i];
    std::printf("%-5lld %7d %4d %16.2f %16.2f\n", static_cast<long long>(r.dim), r.n_expert, r.k, r.separate_ms * 1e3,
                r.fused_ms * 1e3);
    absl::StrAppend(&json, "    {\"dim\": ", r.dim, ", \"n_expert\": ", r.n_expert, ", \"k\": ", r.k,
                    ", \"separate_us\": ", r.separate_ms * 1e3, ", \"fused_us\": ", r.fused_ms * 1e3, "}",
                    i + 1 < routing.size() ? ",\n" : "\n");
  }
  json += "  ],\n  \"prefill\": [\n";
  std::printf("\n%-6s %6s %6s %4s %5s %7s %9s %8s\n", "type", "rows", "cols", "tok", "math", "tile MB", "us",
              "TFLOP/s");
  for (size_t i = 0; i < prefill.size(); ++i) {
    const PrefillResult& r = prefill[i];
    std::printf("%-6s %6lld %6lld %4lld %5s %7lld %9.1f %8.1f\n", r.type.c_str(), static_cast<long long>(r.rows),
                static_cast<long long>(r.cols), static_cast<long long>(r.n_tokens), r.math.c_str(),
                static_cast<long long>(r.tile_mb), r.ms * 1e3, r.tflops);
    absl::StrAppend(&json, "    {\"type\": \"", r.type, "\", \"math\": \"", r.math, "\", \"rows\": ", r.rows,
                    ", \"cols\": ", r.cols, ", \"n_tokens\": ", r.n_tokens, ", \"tile_mb\": ", r.tile_mb,
                    ", \"us\": ", r.ms * 1e3,
                    ", \"tflops\": ", r.tflops, "}", i + 1 < prefill.size() ? ",\n" : "\n");
  }
  json += "  ]\n}\n";
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f == nullptr) return 4;
    std::fputs(json.c_str(), f);
    std::fclose(f);
  }
  return 0;
}
