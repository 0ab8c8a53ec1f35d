// Prototype (offline, not part of the build): a one-token dot kernel whose weight bytes in flight
// live in shared memory, not registers. Each block is resident for the whole product and walks
// row groups g, g + gridDim.x, ...; one thread queues each group's rows (contiguous bytes) as a
// bulk asynchronous copy (cp.async.bulk, completion on an mbarrier) into a ring of kStages
// buffers, so kStages groups are in flight per block while the threads decode the oldest one with
// the production dp4a arithmetic (internal/dp4a_blocks.cuh, its loads made generic so they read
// shared memory: build-exp/dp4a_plain.cuh, made by the sed line below). Timed against the
// production kernel in the same binary as dot_shapes.cu times them.
//
//   sed -e 's/__ldg(/LdAny(/g' -e 's/^namespace hobbit::kernels::cuda_internal {/namespace plain {/' \
//     kernels/cuda/internal/dp4a_blocks.cuh > build-exp/dp4a_plain.cuh
//   nvcc -I. -Ibuild-exp -O3 -DNDEBUG -arch=sm_90 -std=c++20 tools/device/sweeps/bulk_dot.cu \
//     -o build-exp/bulk_dot -labsl_strings -labsl_status
#include "kernels/cuda/quant_matvec.cu"

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace plain {
using hobbit::kernels::GgmlType;
template <class P>
__device__ __forceinline__ P LdAny(const P* p) { return *p; }
}  // namespace plain
#include "dp4a_plain.cuh"

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

__device__ __forceinline__ uint32_t SmemAddr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void BarInit(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(SmemAddr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void BulkLoad(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(SmemAddr(bar)), "r"(bytes) : "memory");
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(SmemAddr(dst)),
      "l"(src), "r"(bytes), "r"(SmemAddr(bar))
      : "memory");
}
__device__ __forceinline__ void BarWait(uint64_t* bar, uint32_t phase) {
  asm volatile(
      "{\n .reg .pred p;\n WAIT_%=:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n @!p bra WAIT_%=;\n }\n" ::"r"(
          SmemAddr(bar)),
      "r"(phase)
      : "memory");
}

// Rows of row_bytes (a multiple of 16, W 16-byte aligned); kRows rows a group, kStages groups in flight.
template <class T, int kRows, int kStages>
__global__ void __launch_bounds__(128) BulkDotKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t row_bytes,
                                                     int64_t cols, const int8_t* __restrict__ xq,
                                                     const float4* __restrict__ xm, const float* __restrict__ xf,
                                                     float* __restrict__ y) {
  extern __shared__ __align__(128) uint8_t ring[];
  __shared__ uint64_t bar[kStages];
  __shared__ float partial[4][kRows];
  const int n_groups = static_cast<int>((rows + kRows - 1) / kRows);
  const int64_t group_bytes = kRows * row_bytes;
  const auto group_rows = [&](int g) { return static_cast<int>(min(static_cast<int64_t>(kRows), rows - static_cast<int64_t>(g) * kRows)); };
  const int tid = static_cast<int>(threadIdx.x);
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) BarInit(&bar[s], 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  AllowDependentLaunch();
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      const int g = static_cast<int>(blockIdx.x) + s * static_cast<int>(gridDim.x);
      if (g < n_groups) {
        BulkLoad(ring + s * group_bytes, w + static_cast<int64_t>(g) * group_bytes,
                 static_cast<uint32_t>(group_rows(g) * row_bytes), &bar[s]);
      }
    }
  }
  WaitForPriorGrid();
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  const int warp = tid / 32, lane = tid % 32;
  int k = 0;
  for (int g = static_cast<int>(blockIdx.x); g < n_groups; g += static_cast<int>(gridDim.x), ++k) {
    const int s = k % kStages;
    BarWait(&bar[s], static_cast<uint32_t>((k / kStages) & 1));
    const uint8_t* base = ring + s * group_bytes;
    const int nr = group_rows(g);
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    for (int i = tid; i < n_items; i += 128) {
      const int64_t blk = i / T::kSubs;
      const int sub = i % T::kSubs;
      const int64_t e = blk * T::kBlockElems;
      const plain::XBlocks xb{xq + e, xm + e / kQ8, xf + e};
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r < nr) {
          typename T::Part p;
          T::Load(base + r * row_bytes + blk * T::kBlockBytes, sub, p);
          acc[r] += T::Dot(p, sub, xb);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v = acc[r];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
      if (lane == 0) partial[warp][r] = v;
    }
    __syncthreads();  // the stage is read, the partials are written
    if (tid < nr) y[static_cast<int64_t>(g) * kRows + tid] = partial[0][tid] + partial[1][tid] + partial[2][tid] + partial[3][tid];
    if (tid == 0) {
      const int gn = g + kStages * static_cast<int>(gridDim.x);
      if (gn < n_groups) {
        BulkLoad(ring + s * group_bytes, w + static_cast<int64_t>(gn) * group_bytes,
                 static_cast<uint32_t>(group_rows(gn) * row_bytes), &bar[s]);
      }
    }
    __syncthreads();  // partials read before the next group writes them
  }
}

// Per-warp variant: each warp owns whole rows (row = global warp index + k * all warps) and a ring
// of kStages row buffers with their own mbarriers; lane 0 queues the copies, the lanes split the
// row's items, a warp reduction gives the row's value. No block-wide barrier.
template <class T, int kStages>
__global__ void __launch_bounds__(128) WarpBulkDotKernel(const uint8_t* __restrict__ w, int64_t rows,
                                                         int64_t row_bytes, int64_t cols,
                                                         const int8_t* __restrict__ xq,
                                                         const float4* __restrict__ xm,
                                                         const float* __restrict__ xf, float* __restrict__ y) {
  extern __shared__ __align__(128) uint8_t ring[];
  __shared__ uint64_t bar[4][kStages];
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  uint8_t* mine = ring + static_cast<int64_t>(warp) * kStages * row_bytes;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * 4 + warp, step = static_cast<int64_t>(gridDim.x) * 4;
  if (lane == 0) {
    for (int s = 0; s < kStages; ++s) BarInit(&bar[warp][s], 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncwarp();
  AllowDependentLaunch();
  if (lane == 0) {
    for (int s = 0; s < kStages; ++s) {
      const int64_t row = first + s * step;
      if (row < rows) BulkLoad(mine + s * row_bytes, w + row * row_bytes, static_cast<uint32_t>(row_bytes), &bar[warp][s]);
    }
  }
  WaitForPriorGrid();
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  int k = 0;
  for (int64_t row = first; row < rows; row += step, ++k) {
    const int s = k % kStages;
    BarWait(&bar[warp][s], static_cast<uint32_t>((k / kStages) & 1));
    const uint8_t* base = mine + s * row_bytes;
    float acc = 0.0f;
    for (int i = lane; i < n_items; i += 32) {
      const int64_t blk = i / T::kSubs;
      const int sub = i % T::kSubs;
      const int64_t e = blk * T::kBlockElems;
      const plain::XBlocks xb{xq + e, xm + e / kQ8, xf + e};
      typename T::Part p;
      T::Load(base + blk * T::kBlockBytes, sub, p);
      acc += T::Dot(p, sub, xb);
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    __syncwarp();  // every lane has read the buffer
    if (lane == 0) {
      y[row] = acc;
      const int64_t next = row + kStages * step;
      if (next < rows) BulkLoad(mine + s * row_bytes, w + next * row_bytes, static_cast<uint32_t>(row_bytes), &bar[warp][s]);
    }
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
    Check(cudaGetLastError(), name.c_str());
    const double gbps = bytes / (us * 1e-6) / 1e9;
    std::printf("%-5s %6lld %6lld %-22s %s %8.2f us %6.0f GB/s %5.1f%%\n", type, (long long)rows, (long long)cols,
                name.c_str(), q ? "q" : "-", us, gbps, 100 * gbps / c.copy);
  }
}

template <class P, class T, int kRows, int kStages>
void TimeBulk(const char* type, const uint8_t* w, size_t bytes, int copies, int64_t rows, int64_t cols,
              int64_t row_bytes, const Ctx& c) {
  const size_t smem = static_cast<size_t>(kStages) * kRows * row_bytes;
  if (smem > 200 * 1024) return;  // past what a block may take (227 KB, less the static part)
  auto kernel = BulkDotKernel<T, kRows, kStages>;
  Check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)), "smem attr");
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 128, smem);
  const int n_groups = static_cast<int>((rows + kRows - 1) / kRows);
  const unsigned grid = static_cast<unsigned>(std::min(n_groups, c.sms * per_sm));
  const std::string name = "bulk r" + std::to_string(kRows) + " s" + std::to_string(kStages) + " x" + std::to_string(per_sm);
  Time(type, name, bytes, copies, rows, cols, c, [&](int k) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = 128;
    config.dynamicSmemBytes = smem;
    config.attrs = attr;
    config.numAttrs = 1;
    Check(cudaLaunchKernelEx(&config, kernel, w + k * bytes, rows, row_bytes, cols, (const int8_t*)c.xq,
                             (const float4*)c.xm, (const float*)c.x, c.y), "bulk launch");
  });
  std::vector<float> a(rows), b(rows);
  cudaMemcpy(a.data(), c.y, 4 * rows, cudaMemcpyDeviceToHost);
  cudaMemcpy(b.data(), c.y2, 4 * rows, cudaMemcpyDeviceToHost);
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) worst = std::max(worst, (double)std::fabs(a[r] - b[r]) / (std::fabs(b[r]) + 1e-3));
  std::printf("%-5s %6lld %6lld %-22s   largest relative difference from production %.3g\n", type, (long long)rows,
              (long long)cols, name.c_str(), worst);
}

template <class P, class T, int kStages>
void TimeWarpBulk(const char* type, const uint8_t* w, size_t bytes, int copies, int64_t rows, int64_t cols,
                  int64_t row_bytes, const Ctx& c) {
  const size_t smem = static_cast<size_t>(4) * kStages * row_bytes;
  if (smem > 200 * 1024) return;
  auto kernel = WarpBulkDotKernel<T, kStages>;
  Check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)), "smem attr");
  int per_sm = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 128, smem);
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>((rows + 3) / 4, c.sms * per_sm));
  const std::string name = "warp bulk s" + std::to_string(kStages) + " x" + std::to_string(per_sm);
  Time(type, name, bytes, copies, rows, cols, c, [&](int k) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = 128;
    config.dynamicSmemBytes = smem;
    config.attrs = attr;
    config.numAttrs = 1;
    Check(cudaLaunchKernelEx(&config, kernel, w + k * bytes, rows, row_bytes, cols, (const int8_t*)c.xq,
                             (const float4*)c.xm, (const float*)c.x, c.y), "warp bulk launch");
  });
  std::vector<float> a(rows), b(rows);
  cudaMemcpy(a.data(), c.y, 4 * rows, cudaMemcpyDeviceToHost);
  cudaMemcpy(b.data(), c.y2, 4 * rows, cudaMemcpyDeviceToHost);
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) worst = std::max(worst, (double)std::fabs(a[r] - b[r]) / (std::fabs(b[r]) + 1e-3));
  std::printf("%-5s %6lld %6lld %-22s   largest relative difference from production %.3g\n", type, (long long)rows,
              (long long)cols, name.c_str(), worst);
}

template <class P, class T>
void Run(const char* type, int64_t block_bytes, int64_t block_elems, const Ctx& c, std::mt19937& rng) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{14336, 4096}, {4096, 14336}, {4096, 4096}}) {
    const int64_t row_bytes = cols / block_elems * block_bytes;
    if (row_bytes % 16 != 0) continue;
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
      if (p.cols / P::kBlockElems * P::kSubs <= kDotThreads) {
        LaunchDot<P, 1, typename OneTokenShape<P>::Short>(&p, 1, c.xq, c.xm, nullptr);
      } else {
        LaunchDot<P, 1, typename OneTokenShape<P>::Long>(&p, 1, c.xq, c.xm, nullptr);
      }
    });
    cudaDeviceSynchronize();
    TimeBulk<P, T, 2, 4>(type, w, bytes, copies, rows, cols, row_bytes, c);
    TimeBulk<P, T, 4, 4>(type, w, bytes, copies, rows, cols, row_bytes, c);
    TimeWarpBulk<P, T, 2>(type, w, bytes, copies, rows, cols, row_bytes, c);
    TimeWarpBulk<P, T, 4>(type, w, bytes, copies, rows, cols, row_bytes, c);
    TimeWarpBulk<P, T, 8>(type, w, bytes, copies, rows, cols, row_bytes, c);
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
  if (wanted("Q8_0")) Run<Q8_0Dot<1>, plain::Q8_0Dot<1>>("Q8_0", 34, 32, c, rng);
  if (wanted("Q4_0")) Run<Q45Dot<false, false, 1>, plain::Q45Dot<false, false, 1>>("Q4_0", 18, 32, c, rng);
  if (wanted("Q2_K")) Run<Q2_KDot, plain::Q2_KDot>("Q2_K", 84, 256, c, rng);
  if (wanted("Q3_K")) Run<Q3_KDot, plain::Q3_KDot>("Q3_K", 110, 256, c, rng);
  if (wanted("Q4_K")) Run<QxKDot<false>, plain::QxKDot<false>>("Q4_K", 144, 256, c, rng);
  if (wanted("Q5_K")) Run<QxKDot<true>, plain::QxKDot<true>>("Q5_K", 176, 256, c, rng);
  if (wanted("Q6_K")) Run<Q6_KDot, plain::Q6_KDot>("Q6_K", 210, 256, c, rng);
  return 0;
}
