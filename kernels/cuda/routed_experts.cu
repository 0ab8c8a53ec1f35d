#include "kernels/cuda/routed_experts.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "kernels/cuda/internal/dp4a_blocks.cuh"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/internal/pdl.cuh"
#include "kernels/cuda/internal/quantize_x.cuh"
#include "kernels/cuda/silu_mul.h"

namespace hobbit::kernels {
namespace {

using cuda_internal::kQ8;
using cuda_internal::Q8LevelsBytes;
using cuda_internal::Q8ScratchBytes;
using cuda_internal::QuantizeXKernel;
using cuda_internal::XBlocks;

constexpr int kThreads = 128;
constexpr int kRows = 4;  // rows of one expert matrix per block: their loads are in flight together

int64_t Align16(int64_t n) { return (n + 15) / 16 * 16; }

// Grid (row blocks, expert groups): block (b, g) computes rows [b * kRows, ...) of the g-th
// distinct expert among the router's ids (in order of first appearance; a group beyond the
// distinct count exits) times the activation rows of every pair routed to it (pair p's row is p /
// x_div of x), so each chosen expert's rows are read once however many tokens chose it. The
// expert comes from the ids through the address table; ids out of range are no group (their
// pairs' outputs are not written: the combine skips them).
// kTokensPerPass: pairs of one expert dotted per read of its rows (1, 2, 4 or 8: the host picks
// the least that holds n_tokens, the most pairs one expert can get, so batch 1 keeps the
// registers, and the occupancy, of a plain matrix-vector product).
// blockIdx.z picks the matrix: 0 = (table, y), 1 = (table_z1, y_z1) — gate and up of one type in
// one launch.
template <class T, int kTokensPerPass>
__global__ void __launch_bounds__(kThreads)
    GatherDotKernel(const void* const* __restrict__ table, const int32_t* __restrict__ ids, int32_t n_pairs,
                    int32_t n_expert, int64_t rows, int64_t cols, int64_t row_bytes, int x_div,
                    const int8_t* __restrict__ xq, const float4* __restrict__ xm, const float* __restrict__ xf,
                    float* __restrict__ y, const void* const* __restrict__ table_z1, float* __restrict__ y_z1,
                    RoutedExpertsParams::Groups groups) {
  cuda_internal::AfterPriorGrid();
  if (blockIdx.z == 1) {
    table = table_z1;
    y = y_z1;
  }
  __shared__ int s_expert;
  __shared__ int s_count;
  __shared__ int s_pair[kRoutedExpertsMaxPairs];
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int* pair_list = s_pair;  // the group's pairs: found here, or the caller's grouping
  if (groups.expert != nullptr) {
    if (threadIdx.x == 0) {
      const int e = groups.expert[blockIdx.y];
      s_expert = e >= 0 && e < n_expert ? e : -1;
      s_count = groups.start[blockIdx.y + 1] - groups.start[blockIdx.y];
    }
    pair_list = groups.pairs + groups.start[blockIdx.y];
  } else if (warp == 0) {
    const unsigned below = (1u << lane) - 1u;
    // The group's expert: the blockIdx.y-th id that is in range and not seen at an earlier pair.
    int expert = -1, seen = 0;
    for (int base = 0; base < n_pairs; base += 32) {
      const int p = base + lane;
      const int id = p < n_pairs ? ids[p] : -1;
      bool first = id >= 0 && id < n_expert;
      for (int q = 0; q < p && first; ++q) first = ids[q] != id;
      const unsigned mask = __ballot_sync(0xffffffffu, first);
      if (first && seen + __popc(mask & below) == static_cast<int>(blockIdx.y)) expert = id;
      seen += __popc(mask);
    }
    // Every lane learns the expert (at most one lane found it), then the pairs routed to it.
#pragma unroll
    for (int off = 16; off > 0; off /= 2) expert = max(expert, __shfl_xor_sync(0xffffffffu, expert, off));
    int count = 0;
    for (int base = 0; base < n_pairs && expert >= 0; base += 32) {
      const int p = base + lane;
      const bool hit = p < n_pairs && ids[p] == expert;
      const unsigned mask = __ballot_sync(0xffffffffu, hit);
      if (hit) s_pair[count + __popc(mask & below)] = p;
      count += __popc(mask);
    }
    if (lane == 0) {
      s_expert = expert;
      s_count = count;
    }
  }
  __syncthreads();
  const int expert = s_expert, count = s_count;
  if (expert < 0) return;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const auto* w = static_cast<const uint8_t*>(table[expert]);
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  const uint8_t* row_ptr[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) row_ptr[r] = w + min(row0 + r, rows - 1) * row_bytes;  // extra rows: not stored
  __shared__ float partial[kThreads / 32][kRows][kTokensPerPass];
  for (int c0 = 0; c0 < count; c0 += kTokensPerPass) {
    const int n = min(kTokensPerPass, count - c0);
    int64_t x0[kTokensPerPass];
#pragma unroll
    for (int j = 0; j < kTokensPerPass; ++j) x0[j] = j < n ? static_cast<int64_t>(pair_list[c0 + j] / x_div) * cols : 0;
    float acc[kRows][kTokensPerPass];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int j = 0; j < kTokensPerPass; ++j) acc[r][j] = 0.0f;
    }
    for (int i = static_cast<int>(threadIdx.x); i < n_items; i += static_cast<int>(blockDim.x)) {
      const int64_t block = i / T::kSubs;
      const int sub = i % T::kSubs;
      typename T::Part part[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) T::Load(row_ptr[r] + block * T::kBlockBytes, sub, part[r]);
#pragma unroll
      for (int j = 0; j < kTokensPerPass; ++j) {
        if (j < n) {
          const int64_t el = x0[j] + block * T::kBlockElems;
          const XBlocks xb{xq + el, xm + el / kQ8, xf + el};
#pragma unroll
          for (int r = 0; r < kRows; ++r) acc[r][j] += T::Dot(part[r], sub, xb);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int j = 0; j < kTokensPerPass; ++j) {
        if (j < n) {
          float v = acc[r][j];
#pragma unroll
          for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
          if (lane == 0) partial[warp][r][j] = v;
        }
      }
    }
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < kRows * n) {
      const int r = static_cast<int>(threadIdx.x) % kRows, j = static_cast<int>(threadIdx.x) / kRows;
      float v = 0.0f;
      for (int k = 0; k < static_cast<int>(blockDim.x / 32); ++k) v += partial[k][r][j];
      if (row0 + r < rows) y[static_cast<int64_t>(pair_list[c0 + j]) * rows + row0 + r] = v;
    }
    __syncthreads();
  }
}

// One token (n_tokens == 1): out[c] += sum_j weights[j] * (down_{ids[j]} h_j)[c] over the slots
// whose id is in range, in one kernel (no round trip through the scratch, no combine kernel). The
// block's threads split the (slot, weight block, part) items of all k slots, so the loads of every
// chosen expert are in flight together (a loop over the slots would wait k times), kDcUnroll
// items of kDcRows rows at a time per thread.
template <class T, int kDcRows, int kDcUnroll>
__global__ void __launch_bounds__(kThreads) DownCombineKernel(const void* const* __restrict__ table,
                                                               const int32_t* __restrict__ ids,
                                                               const float* __restrict__ weights, int32_t k,
                                                               int32_t n_expert, int64_t rows, int64_t cols,
                                                               int64_t row_bytes, const int8_t* __restrict__ xq,
                                                               const float4* __restrict__ xm,
                                                               const float* __restrict__ xf, float* __restrict__ out) {
  cuda_internal::AfterPriorGrid();
  __shared__ const uint8_t* s_base[kRoutedExpertsMaxPairs];  // row0's address in slot j's expert, or null
  __shared__ float s_weight[kRoutedExpertsMaxPairs];
  __shared__ float partial[kThreads / 32][kDcRows];
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kDcRows;
  for (int j = static_cast<int>(threadIdx.x); j < k; j += static_cast<int>(blockDim.x)) {
    const int expert = ids[j];
    const bool valid = expert >= 0 && expert < n_expert;
    s_base[j] = valid ? static_cast<const uint8_t*>(table[expert]) + row0 * row_bytes : nullptr;
    s_weight[j] = valid ? weights[j] : 0.0f;
  }
  __syncthreads();
  const int n_items = static_cast<int>(cols / T::kBlockElems) * T::kSubs;
  // Rows past the end read the last row (not stored).
  int64_t row_off[kDcRows];
#pragma unroll
  for (int r = 0; r < kDcRows; ++r) row_off[r] = (min(row0 + r, rows - 1) - row0) * row_bytes;
  float acc[kDcRows];
#pragma unroll
  for (int r = 0; r < kDcRows; ++r) acc[r] = 0.0f;
  // Items i, i + stride, ... (kN of them): every load first, then the dots.
  const auto items = [&](int i, int stride, auto n) {
    constexpr int kN = decltype(n)::value;
    typename T::Part part[kN][kDcRows];
    const uint8_t* base[kN];
#pragma unroll
    for (int u = 0; u < kN; ++u) {
      const int j = (i + u * stride) / n_items, item = (i + u * stride) % n_items;
      base[u] = s_base[j];
      if (base[u] == nullptr) continue;
#pragma unroll
      for (int r = 0; r < kDcRows; ++r) {
        T::Load(base[u] + row_off[r] + static_cast<int64_t>(item / T::kSubs) * T::kBlockBytes, item % T::kSubs,
                part[u][r]);
      }
    }
#pragma unroll
    for (int u = 0; u < kN; ++u) {
      if (base[u] == nullptr) continue;
      const int j = (i + u * stride) / n_items, item = (i + u * stride) % n_items;
      const int64_t el = static_cast<int64_t>(j) * cols + static_cast<int64_t>(item / T::kSubs) * T::kBlockElems;
      const XBlocks xb{xq + el, xm + el / kQ8, xf + el};
      const float wj = s_weight[j];
#pragma unroll
      for (int r = 0; r < kDcRows; ++r) acc[r] = fmaf(wj, T::Dot(part[u][r], item % T::kSubs, xb), acc[r]);
    }
  };
  const int total = k * n_items, stride = static_cast<int>(blockDim.x);
  int i = static_cast<int>(threadIdx.x);
  if constexpr (kDcUnroll > 1) {
    for (; i + (kDcUnroll - 1) * stride < total; i += kDcUnroll * stride) {
      items(i, stride, std::integral_constant<int, kDcUnroll>{});
    }
  }
  for (; i < total; i += stride) {
    const int j = i / n_items, item = i % n_items;
    const uint8_t* base = s_base[j];
    if (base == nullptr) continue;
    const int64_t block = item / T::kSubs;
    const int sub = item % T::kSubs;
    typename T::Part part[kDcRows];
#pragma unroll
    for (int r = 0; r < kDcRows; ++r) T::Load(base + row_off[r] + block * T::kBlockBytes, sub, part[r]);
    const int64_t el = static_cast<int64_t>(j) * cols + block * T::kBlockElems;
    const XBlocks xb{xq + el, xm + el / kQ8, xf + el};
    const float wj = s_weight[j];
#pragma unroll
    for (int r = 0; r < kDcRows; ++r) acc[r] = fmaf(wj, T::Dot(part[r], sub, xb), acc[r]);
  }
#pragma unroll
  for (int r = 0; r < kDcRows; ++r) {
    float v = acc[r];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0) partial[warp][r] = v;
  }
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < kDcRows && row0 + static_cast<int>(threadIdx.x) < rows) {
    float v = 0.0f;
    for (int q = 0; q < static_cast<int>(blockDim.x / 32); ++q) v += partial[q][threadIdx.x];
    out[row0 + threadIdx.x] += v;
  }
}

// silu(gate) * up quantized to Q8 blocks for the down product, one warp per block of 32 (the
// product as SiluMulKernel takes it, the quantization as QuantizeXKernel does).
__global__ void __launch_bounds__(128) SiluQuantizeKernel(const float* __restrict__ gate, const float* __restrict__ up,
                                                          int64_t n_q8, int8_t* __restrict__ xq,
                                                          float4* __restrict__ xm) {
  cuda_internal::AfterPriorGrid();
  const int64_t b = static_cast<int64_t>(blockIdx.x) * (128 / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (b >= n_q8) return;
  const float g = gate[b * kQ8 + lane];
  cuda_internal::QuantizeBlockOfWarp(g / (1.0f + expf(-g)) * up[b * kQ8 + lane], xq + b * kQ8, xm + b);
}

// out[t, c] += sum_j weights[t, j] * down[t * k + j, c] over the slots whose id is in range.
__global__ void CombineKernel(const float* __restrict__ down, const int32_t* __restrict__ ids,
                              const float* __restrict__ weights, int32_t n_expert, int32_t n_tokens, int32_t k,
                              int64_t n_embd, float* __restrict__ out) {
  cuda_internal::AfterPriorGrid();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_tokens * n_embd) return;
  const int64_t t = i / n_embd, c = i % n_embd;
  float sum = 0.0f;
  for (int j = 0; j < k; ++j) {
    const int64_t pair = t * k + j;
    if (ids[pair] >= 0 && ids[pair] < n_expert) sum = fmaf(weights[pair], down[pair * n_embd + c], sum);
  }
  out[i] += sum;
}

// Where each part of the scratch buffer starts.
struct Scratch {
  float* gate;
  float* up;
  float* down;
  int8_t* xq;
  float4* xm;
  int8_t* aq;
  float4* am;
};

Scratch Carve(void* base, int64_t n_embd, int64_t n_ff, int32_t pairs) {
  auto* p = static_cast<uint8_t*>(base);
  Scratch s;
  s.gate = reinterpret_cast<float*>(p);
  p += Align16(pairs * n_ff * 4);
  s.up = reinterpret_cast<float*>(p);
  p += Align16(pairs * n_ff * 4);
  s.down = reinterpret_cast<float*>(p);
  p += Align16(pairs * n_embd * 4);
  s.xq = reinterpret_cast<int8_t*>(p);
  s.xm = reinterpret_cast<float4*>(p + Q8LevelsBytes(n_embd, pairs));
  p += Q8ScratchBytes(n_embd, pairs);
  s.aq = reinterpret_cast<int8_t*>(p);
  s.am = reinterpret_cast<float4*>(p + Q8LevelsBytes(n_ff, pairs));
  return s;
}

template <class T>
bool MatrixFits(const RoutedMatrix& m) {
  return m.table != nullptr && m.cols % T::kBlockElems == 0 && m.row_bytes % T::kRowAlign == 0 &&
         m.row_bytes >= m.cols / T::kBlockElems * T::kBlockBytes && (!T::kInt8 || m.cols % kQ8 == 0) &&
         m.rows > 0 && m.rows < (int64_t{1} << 31);
}

bool Fits(const RoutedMatrix& m) {
  bool fits = false;
  cuda_internal::DispatchDotType(m.type, [&](auto d) { fits = MatrixFits<decltype(d)>(m); });
  return fits;
}

bool NeedsQ8(GgmlType type) {
  bool int8 = false;
  cuda_internal::DispatchDotType(type, [&](auto d) { int8 = decltype(d)::kInt8; });
  return int8;
}

// With `second` (a matrix of m's type and shape, and its output y2): both in one launch.
void LaunchGather(const RoutedMatrix& m, const RoutedExpertsParams& p, int x_div, const int8_t* xq, const float4* xm,
                  const float* xf, float* y, CUstream_st* stream, const RoutedMatrix* second = nullptr,
                  float* y2 = nullptr) {
  // At most one group per pair and per expert (or the caller's groups).
  const int32_t pairs = p.n_tokens * p.k;
  const bool grouped = p.groups.expert != nullptr;
  const unsigned n_groups = static_cast<unsigned>(grouped ? p.groups.n : std::min(pairs, p.n_expert));
  const dim3 grid(static_cast<unsigned>((m.rows + kRows - 1) / kRows), n_groups, second != nullptr ? 2u : 1u);
  const void* const* table2 = second != nullptr ? second->table : m.table;
  float* out2 = second != nullptr ? y2 : y;
  cuda_internal::DispatchDotType(m.type, [&](auto d) {
    using T = decltype(d);
    const int64_t n_items = m.cols / T::kBlockElems * T::kSubs;
    const int threads = static_cast<int>(std::min<int64_t>(kThreads, (n_items + 31) / 32 * 32));
    const auto launch = [&](auto kernel) {
      cuda_internal::LaunchAfterPrior(kernel, grid, threads, stream, m.table, p.ids, pairs, p.n_expert, m.rows, m.cols,
                                      m.row_bytes, x_div, xq, xm, xf, y, table2, out2, p.groups);
    };
    if (grouped) {
      launch(GatherDotKernel<T, 8>);
    } else if (p.n_tokens <= 1) {
      launch(GatherDotKernel<T, 1>);
    } else if (p.n_tokens <= 2) {
      launch(GatherDotKernel<T, 2>);
    } else if (p.n_tokens <= 4) {
      launch(GatherDotKernel<T, 4>);
    } else {
      launch(GatherDotKernel<T, 8>);
    }
  });
}

// The down product's rows per block and items in flight per thread, by type (a sweep on the
// H200 at the mixtral-8x7b shape, 4096x14336 with k = 2, and qwen3-30b-a3b's, 2048x768 with k = 8;
// BENCHMARKS.md, "Matvec launch shapes"): 4 rows of 1 item unless another shape measured faster.
// Q4_K's best shape depends on the row: 2 rows for short ones (at most 2 items per thread).
template <class T>
struct DownShape {
  static constexpr int kRows = 4, kUnroll = 1;
};
template <>
struct DownShape<cuda_internal::Q8_0Dot<1>> {  // qwen3 7.3 us against 8.5 (mixtral equal)
  static constexpr int kRows = 2, kUnroll = 2;
};
template <>
struct DownShape<cuda_internal::Q6_KDot> {  // mixtral 35.3 us against 43.4
  static constexpr int kRows = 4, kUnroll = 2;
};
template <>
struct DownShape<cuda_internal::Q2_KDot> {  // mixtral 22.3 us against 28.4, qwen3 6.0 against 6.3
  static constexpr int kRows = 2, kUnroll = 1;
};

void LaunchDownCombine(const RoutedExpertsParams& p, const int8_t* aq, const float4* am, const float* af,
                       CUstream_st* stream) {
  const RoutedMatrix& m = p.down;
  cuda_internal::DispatchDotType(m.type, [&](auto d) {
    using T = decltype(d);
    const int64_t n_items = m.cols / T::kBlockElems * T::kSubs * p.k;
    const int threads = static_cast<int>(std::min<int64_t>(kThreads, (n_items + 31) / 32 * 32));
    const auto launch = [&](auto kernel, int rows_per_block) {
      const unsigned grid = static_cast<unsigned>((m.rows + rows_per_block - 1) / rows_per_block);
      cuda_internal::LaunchAfterPrior(kernel, grid, threads, stream, m.table, p.ids, p.weights, p.k, p.n_expert,
                                      m.rows, m.cols, m.row_bytes, aq, am, af, p.out);
    };
    // `if constexpr`: the short-row kernel is instantiated for Q4_K only.
    if constexpr (std::is_same_v<T, cuda_internal::QxKDot<false>>) {
      if (n_items <= 2 * kThreads) {
        launch(DownCombineKernel<T, 2, 1>, 2);  // qwen3: 6.7 us against 8.3 (mixtral: 4 rows, 25.3 against 29.1)
        return;
      }
    }
    launch(DownCombineKernel<T, DownShape<T>::kRows, DownShape<T>::kUnroll>, DownShape<T>::kRows);
  });
}

bool SameMatrixShape(const RoutedMatrix& a, const RoutedMatrix& b) {
  return a.type == b.type && a.rows == b.rows && a.cols == b.cols && a.row_bytes == b.row_bytes;
}

void Quantize(const float* x, int64_t cols, int64_t n_rows, int8_t* q, float4* m, CUstream_st* stream) {
  const int64_t n_q8 = cols * n_rows / kQ8;
  cuda_internal::LaunchAfterPrior(QuantizeXKernel, cuda_internal::GridFor(n_q8, kThreads / 32), kThreads, stream, x,
                                  n_q8, q, m);
}

}  // namespace

size_t RoutedExpertsScratchBytes(int64_t n_embd, int64_t n_ff, int32_t pairs) {
  return static_cast<size_t>(2 * Align16(pairs * n_ff * 4) + Align16(pairs * n_embd * 4) + Q8ScratchBytes(n_embd, pairs) +
                             Q8ScratchBytes(n_ff, pairs));
}

bool RoutedMatrixAddressFits(GgmlType type, const void* address) {
  bool fits = false;
  cuda_internal::DispatchDotType(type, [&](auto d) {
    fits = reinterpret_cast<uintptr_t>(address) % decltype(d)::kAlign == 0;
  });
  return fits;
}

bool RoutedExpertsShapeFits(const RoutedExpertsParams& p, bool grouped, int32_t n_groups) {
  const int64_t n_embd = p.gate.cols, n_ff = p.gate.rows;
  const int32_t pairs = p.n_tokens * p.k;
  return p.n_tokens >= 1 && p.k >= 1 && pairs <= (grouped ? kRoutedExpertsMaxGroupedPairs : kRoutedExpertsMaxPairs) &&
         (!grouped || (n_groups >= 1 && n_groups <= 65535)) && p.n_expert >= 1 && Fits(p.gate) && Fits(p.up) &&
         Fits(p.down) && p.up.rows == n_ff && p.up.cols == n_embd && p.down.rows == n_embd && p.down.cols == n_ff &&
         reinterpret_cast<uintptr_t>(p.x) % 16 == 0;
}

bool RoutedExpertsCanRun(const RoutedExpertsParams& p) {
  const bool grouped = p.groups.expert != nullptr;
  if (grouped && (p.groups.start == nullptr || p.groups.pairs == nullptr)) return false;
  return RoutedExpertsShapeFits(p, grouped, p.groups.n);
}

absl::Status RoutedExperts(const RoutedExpertsParams& p, CUstream_st* stream) {
  if (!RoutedExpertsCanRun(p)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda routed experts: cannot run ", p.n_tokens, " tokens x top-", p.k,
                                                   " over ", p.n_expert, " experts of ", p.gate.rows, "x", p.gate.cols,
                                                   " (", GgmlTypeName(p.gate.type), "/", GgmlTypeName(p.down.type), ")"));
  }
  const int64_t n_embd = p.gate.cols, n_ff = p.gate.rows;
  const int32_t pairs = p.n_tokens * p.k;
  if (p.scratch == nullptr || reinterpret_cast<uintptr_t>(p.scratch) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.x_q8) % 16 != 0 || p.scratch_bytes < RoutedExpertsScratchBytes(n_embd, n_ff, pairs)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda routed experts: scratch of ", p.scratch_bytes, " bytes, ",
                                                   RoutedExpertsScratchBytes(n_embd, n_ff, pairs),
                                                   " needed, 16-byte aligned"));
  }
  const Scratch s = Carve(p.scratch, n_embd, n_ff, pairs);
  const int8_t* xq = s.xq;
  const float4* xm = s.xm;
  if (p.x_q8 != nullptr) {
    xq = static_cast<const int8_t*>(p.x_q8);
    xm = reinterpret_cast<const float4*>(xq + Q8LevelsBytes(n_embd, p.n_tokens));
  } else if (NeedsQ8(p.gate.type) || NeedsQ8(p.up.type)) {
    Quantize(p.x, n_embd, p.n_tokens, s.xq, s.xm, stream);
  }
  if (SameMatrixShape(p.gate, p.up)) {
    LaunchGather(p.gate, p, p.k, xq, xm, p.x, s.gate, stream, &p.up, s.up);
  } else {
    LaunchGather(p.gate, p, p.k, xq, xm, p.x, s.gate, stream);
    LaunchGather(p.up, p, p.k, xq, xm, p.x, s.up, stream);
  }
  if (NeedsQ8(p.down.type)) {
    // The int8 dot reads only the quantized activations: silu(gate) * up goes straight into them.
    const int64_t n_q8 = pairs * n_ff / kQ8;
    cuda_internal::LaunchAfterPrior(SiluQuantizeKernel, cuda_internal::GridFor(n_q8, kThreads / 32), kThreads, stream,
                                    s.gate, s.up, n_q8, s.aq, s.am);
  } else {
    HOBBIT_RETURN_IF_ERROR(SiluMulF32(s.gate, s.up, pairs * n_ff, s.gate, stream));
  }
  if (p.n_tokens == 1 && p.groups.expert == nullptr) {
    // One token: the down product adds its k slots into the output itself (no combine kernel).
    LaunchDownCombine(p, s.aq, s.am, s.gate, stream);
    return cuda_internal::LaunchStatus("cuda routed experts");
  }
  LaunchGather(p.down, p, 1, s.aq, s.am, s.gate, s.down, stream);
  const int64_t n = p.n_tokens * n_embd;
  cuda_internal::LaunchAfterPrior(CombineKernel, cuda_internal::GridFor(n, 256), 256, stream, s.down, p.ids, p.weights,
                                  p.n_expert, p.n_tokens, p.k, n_embd, p.out);
  return cuda_internal::LaunchStatus("cuda routed experts");
}

}  // namespace hobbit::kernels
