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
#include "tools/device/sweeps/one_token_dot.cuh"

using namespace hobbit::kernels;
using namespace hobbit::kernels::cuda_internal;

// Rows of at most kThreads items (one item per thread and row).
template <class T, int kRows, int kThreads>
__global__ void __launch_bounds__(kThreads)
    StreamDotKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t row_bytes, int64_t cols,
                    const int8_t* __restrict__ xq, const float4* __restrict__ xm, const float* __restrict__ xf,
                    float* __restrict__ y) {
  AllowDependentLaunch();
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  const int n_groups = static_cast<int>((rows + kRows - 1) / kRows);
  const int i = static_cast<int>(threadIdx.x);
  const bool active = i < n_items;
  const int64_t block_off = static_cast<int64_t>(i / T::kSubs) * T::kBlockBytes;
  const int sub = i % T::kSubs;
  typename T::Part cur[kRows], nxt[kRows];
  const auto load = [&](int g, typename T::Part(&p)[kRows]) {
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
__global__ void __launch_bounds__(kThreads)
    XRegDotKernel(const uint8_t* __restrict__ w, int64_t rows, int64_t row_bytes, int64_t cols,
                  const int8_t* __restrict__ xq, const float4* __restrict__ xm, const float* __restrict__ xf,
                  float* __restrict__ y) {
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

template <class T, int kRows>
void TimeStream(const char* type, const sweep::Weights& ws, int64_t rows, int64_t cols, int64_t row_bytes,
                const sweep::Ctx& c, int waves) {
  constexpr int kThreads = 128;
  int per_sm = 0;
  sweep::Check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, StreamDotKernel<T, kRows, kThreads>, kThreads, 0),
               "occupancy");
  const int n_groups = static_cast<int>((rows + kRows - 1) / kRows);
  const unsigned grid = static_cast<unsigned>(std::min(n_groups, c.sms * per_sm * waves));
  sweep::TimeOneToken(
      type, "stream r" + std::to_string(kRows) + " x" + std::to_string(per_sm) + (waves > 1 ? " w2" : ""), ws, rows,
      cols, c, [&](int k) {
        LaunchAfterPrior(StreamDotKernel<T, kRows, kThreads>, grid, kThreads, nullptr, ws.Copy(k), rows, row_bytes,
                         cols, (const int8_t*)c.xq, (const float4*)c.xm, (const float*)c.x, c.y);
      });
}

template <class T, int kRows, int kGroups>
void TimeXReg(const char* type, const sweep::Weights& ws, int64_t rows, int64_t cols, int64_t row_bytes,
              const sweep::Ctx& c) {
  constexpr int kThreads = 128;
  const unsigned grid = static_cast<unsigned>((rows + kRows * kGroups - 1) / (kRows * kGroups));
  sweep::TimeOneToken(
      type, "xreg r" + std::to_string(kRows) + " g" + std::to_string(kGroups), ws, rows, cols, c, [&](int k) {
        LaunchAfterPrior(XRegDotKernel<T, kRows, kGroups, kThreads>, grid, kThreads, nullptr, ws.Copy(k), rows,
                         row_bytes, cols, (const int8_t*)c.xq, (const float4*)c.xm, (const float*)c.x, c.y);
      });
}

template <class T>
void Run(const char* type, int64_t block_bytes, int64_t block_elems, const sweep::Ctx& c, std::mt19937& rng) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{14336, 4096}, {4096, 4096}, {6144, 4096}}) {
    const int64_t row_bytes = cols / block_elems * block_bytes;
    const sweep::Weights ws = sweep::RandomWeights(rows * row_bytes, rng);
    sweep::TimeOneToken(type, "production", ws, rows, cols, c,
                        [&](int k) { sweep::LaunchOneTokenDot<T>(ws.Copy(k), rows, cols, row_bytes, c, c.y2); });
    if (std::getenv("XREG") == nullptr) {
      TimeStream<T, 2>(type, ws, rows, cols, row_bytes, c, 1);
      TimeStream<T, 4>(type, ws, rows, cols, row_bytes, c, 1);
      TimeStream<T, 4>(type, ws, rows, cols, row_bytes, c, 2);
    } else {
      TimeXReg<T, 4, 2>(type, ws, rows, cols, row_bytes, c);
      TimeXReg<T, 4, 4>(type, ws, rows, cols, row_bytes, c);
      TimeXReg<T, 2, 4>(type, ws, rows, cols, row_bytes, c);
      TimeXReg<T, 2, 8>(type, ws, rows, cols, row_bytes, c);
    }
    // The last variant's results against the production kernel's, on the same (last) weight copy.
    std::printf("%-5s %6lld %6lld last variant vs production: largest relative difference %.3g\n", type,
                (long long)rows, (long long)cols, sweep::LargestDifference(c.y, c.y2, rows));
    cudaFree(ws.w);
  }
}

int main(int argc, char** argv) {
  const sweep::TypeFilter wanted(argc, argv, {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"});
  std::mt19937 rng(7);
  const sweep::Ctx c = sweep::MakeCtx(rng);
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
