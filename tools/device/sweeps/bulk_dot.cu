// Prototype (offline, not part of the build): a one-token dot kernel whose weight bytes in flight
// live in shared memory, not registers. Each block is resident for the whole product and walks
// row groups g, g + gridDim.x, ...; one thread queues each group's rows (contiguous bytes) as a
// bulk asynchronous copy (cp.async.bulk, completion on an mbarrier) into a ring of kStages
// buffers, so kStages groups are in flight per block while the threads decode the oldest one with
// the production dp4a arithmetic (internal/dp4a_blocks.cuh, its loads made generic so they read
// shared memory: build-exp/dp4a_plain.cuh, made by the sed line below). WarpBulkDotKernel does
// the same per warp, with no block barrier. Timed against the production kernel in the same
// binary as dot_shapes.cu times them, and checked against its results.
//
//   sed -e 's/__ldg(/LdAny(/g' -e 's/^namespace hobbit::kernels::cuda_internal {/namespace plain {/' \
//     kernels/cuda/internal/dp4a_blocks.cuh > build-exp/dp4a_plain.cuh
//   nvcc -I. -Ibuild-exp -O3 -DNDEBUG -arch=sm_90 -std=c++20 tools/device/sweeps/bulk_dot.cu \
//     -o build-exp/bulk_dot -labsl_strings -labsl_status
#include "kernels/cuda/quant_matvec.cu"

namespace plain {
using hobbit::kernels::GgmlType;
template <class P>
__device__ __forceinline__ P LdAny(const P* p) {
  return *p;
}
}  // namespace plain
#include "dp4a_plain.cuh"
#include "tools/device/sweeps/one_token_dot.cuh"

using namespace hobbit::kernels;
using namespace hobbit::kernels::cuda_internal;

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

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
      "{\n .reg .pred p;\n WAIT_%=:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n @!p bra WAIT_%=;\n }\n" ::
          "r"(SmemAddr(bar)),
      "r"(phase)
      : "memory");
}

// Rows of row_bytes (a multiple of 16, W 16-byte aligned); kRows rows a group, kStages groups in flight.
template <class T, int kRows, int kStages>
__global__ void __launch_bounds__(128)
    BulkDotKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t row_bytes, int64_t cols,
                  const int8_t* __restrict__ xq, const float4* __restrict__ xm, const float* __restrict__ xf,
                  float* __restrict__ y) {
  extern __shared__ __align__(128) uint8_t ring[];
  __shared__ uint64_t bar[kStages];
  __shared__ float partial[4][kRows];
  const int n_groups = static_cast<int>((rows + kRows - 1) / kRows);
  const int64_t group_bytes = kRows * row_bytes;
  const auto group_rows = [&](int g) {
    return static_cast<int>(min(static_cast<int64_t>(kRows), rows - static_cast<int64_t>(g) * kRows));
  };
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
    if (tid < nr)
      y[static_cast<int64_t>(g) * kRows + tid] = partial[0][tid] + partial[1][tid] + partial[2][tid] + partial[3][tid];
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
__global__ void __launch_bounds__(128)
    WarpBulkDotKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t row_bytes, int64_t cols,
                      const int8_t* __restrict__ xq, const float4* __restrict__ xm, const float* __restrict__ xf,
                      float* __restrict__ y) {
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
      if (row < rows)
        BulkLoad(mine + s * row_bytes, w + row * row_bytes, static_cast<uint32_t>(row_bytes), &bar[warp][s]);
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
      if (next < rows)
        BulkLoad(mine + s * row_bytes, w + next * row_bytes, static_cast<uint32_t>(row_bytes), &bar[warp][s]);
    }
  }
}

// Launches kernel with dynamic shared memory and programmatic stream serialization.
template <typename K, typename... Args>
void LaunchWithSmem(K kernel, unsigned grid, size_t smem, Args... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = 128;
  config.dynamicSmemBytes = smem;
  config.attrs = attr;
  config.numAttrs = 1;
  sweep::Check(cudaLaunchKernelEx(&config, kernel, args...), "launch");
}

// Times kernel (rows in groups of rows_per_block, smem bytes a block) and checks it against the
// production kernel's results in c.y2; configurations past a block's shared memory are skipped.
template <typename K>
void TimeResident(const char* type, const std::string& name, K kernel, size_t smem, int64_t rows_per_block,
                  const sweep::Weights& ws, int64_t rows, int64_t cols, int64_t row_bytes, const sweep::Ctx& c) {
  if (smem > 200 * 1024) return;  // past what a block may take (227 KB, less the static part)
  sweep::Check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
               "smem attribute");
  int per_sm = 0;
  sweep::Check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 128, smem), "occupancy");
  const unsigned grid = static_cast<unsigned>(
      std::min<int64_t>((rows + rows_per_block - 1) / rows_per_block, static_cast<int64_t>(c.sms) * per_sm));
  const std::string label = name + " x" + std::to_string(per_sm);
  sweep::TimeOneToken(type, label, ws, rows, cols, c, [&](int k) {
    LaunchWithSmem(kernel, grid, smem, ws.Copy(k), rows, row_bytes, cols, (const int8_t*)c.xq, (const float4*)c.xm,
                   (const float*)c.x, c.y);
  });
  std::printf("%-5s %6lld %6lld %-22s   largest relative difference from production %.3g\n", type, (long long)rows,
              (long long)cols, label.c_str(), sweep::LargestDifference(c.y, c.y2, rows));
}

template <class P, class T>
void Run(const char* type, int64_t block_bytes, int64_t block_elems, const sweep::Ctx& c, std::mt19937& rng) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{14336, 4096}, {4096, 14336}, {4096, 4096}}) {
    const int64_t row_bytes = cols / block_elems * block_bytes;
    if (row_bytes % 16 != 0) continue;
    const sweep::Weights ws = sweep::RandomWeights(rows * row_bytes, rng);
    sweep::TimeOneToken(type, "production", ws, rows, cols, c,
                        [&](int k) { sweep::LaunchOneTokenDot<P>(ws.Copy(k), rows, cols, row_bytes, c, c.y2); });
    sweep::Check(cudaDeviceSynchronize(), "production");
    const size_t rb = static_cast<size_t>(row_bytes);
    TimeResident(type, "bulk r2 s4", BulkDotKernel<T, 2, 4>, 4 * 2 * rb, 2, ws, rows, cols, row_bytes, c);
    TimeResident(type, "bulk r4 s4", BulkDotKernel<T, 4, 4>, 4 * 4 * rb, 4, ws, rows, cols, row_bytes, c);
    TimeResident(type, "bulk r4 s8", BulkDotKernel<T, 4, 8>, 8 * 4 * rb, 4, ws, rows, cols, row_bytes, c);
    TimeResident(type, "bulk r8 s4", BulkDotKernel<T, 8, 4>, 4 * 8 * rb, 8, ws, rows, cols, row_bytes, c);
    TimeResident(type, "warp bulk s2", WarpBulkDotKernel<T, 2>, 4 * 2 * rb, 4, ws, rows, cols, row_bytes, c);
    TimeResident(type, "warp bulk s4", WarpBulkDotKernel<T, 4>, 4 * 4 * rb, 4, ws, rows, cols, row_bytes, c);
    TimeResident(type, "warp bulk s8", WarpBulkDotKernel<T, 8>, 4 * 8 * rb, 4, ws, rows, cols, row_bytes, c);
    cudaFree(ws.w);
  }
}

int main(int argc, char** argv) {
  const sweep::TypeFilter wanted(argc, argv, {"Q8_0", "Q4_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"});
  std::mt19937 rng(7);
  const sweep::Ctx c = sweep::MakeCtx(rng);
  if (wanted("Q8_0")) Run<Q8_0Dot<1>, plain::Q8_0Dot<1>>("Q8_0", 34, 32, c, rng);
  if (wanted("Q4_0")) Run<Q45Dot<false, false, 1>, plain::Q45Dot<false, false, 1>>("Q4_0", 18, 32, c, rng);
  if (wanted("Q2_K")) Run<Q2_KDot, plain::Q2_KDot>("Q2_K", 84, 256, c, rng);
  if (wanted("Q3_K")) Run<Q3_KDot, plain::Q3_KDot>("Q3_K", 110, 256, c, rng);
  if (wanted("Q4_K")) Run<QxKDot<false>, plain::QxKDot<false>>("Q4_K", 144, 256, c, rng);
  if (wanted("Q5_K")) Run<QxKDot<true>, plain::QxKDot<true>>("Q5_K", 176, 256, c, rng);
  if (wanted("Q6_K")) Run<Q6_KDot, plain::Q6_KDot>("Q6_K", 210, 256, c, rng);
  return 0;
}
