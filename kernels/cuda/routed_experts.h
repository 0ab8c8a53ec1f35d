// RoutedExperts on CUDA: one MoE layer's routed experts for a decode-sized batch, on the router's
// choice as it lies in device memory (no round trip to the host):
//   out[t, :] += sum_j weights[t, j] * down_e(silu(gate_e x[t, :]) * up_e x[t, :]),  e = ids[t, j].
// Each distinct chosen expert is one grid row of a gathered matrix-vector product over the
// (token, slot) pairs routed to it, so an expert several tokens chose is read once: its matrix is
// found through a device table of per-expert addresses, read after the router wrote the ids. Activations are quantized to int8 blocks of 32 for the quantized weight types (as the
// decode matvec does, kernels/cuda/quant_matvec.h); float weight types take float activations.
//
// Launches: x's quantization, gate and up as one gathered launch (when they share type and
// shape), silu(gate) * up straight into the down product's int8 activations, then for one token
// the down product adds its k slots into out itself; for more tokens a gathered down product and
// a combine kernel. Every kernel waits for the one before (internal/pdl.cuh).
//
// Prefill batches come with the pairs grouped by expert (RoutedExpertsParams::groups), up to
// kRoutedExpertsMaxGroupedPairs: each group's expert is read once per 8 of its pairs (its rows
// stay in the block's cache between passes), with one launch per projection for all experts
// instead of a handful per expert (qwen3's 128 experts made prefill launch-bound).
//
// Shape/limits: pairs = n_tokens * k <= kRoutedExpertsMaxPairs (grouped: the larger limit); every matrix a type with an
// integer or float dot (internal/dp4a_blocks.cuh) and its alignment; n_embd and n_ff multiples of
// 32 where activations are quantized. Scratch: RoutedExpertsScratchBytes, 16-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/base/ggml_type.h"

struct CUstream_st;

namespace hobbit::kernels {

inline constexpr int32_t kRoutedExpertsMaxPairs = 64;
// With the pairs grouped by expert (RoutedExpertsParams::groups: prefill batches).
inline constexpr int32_t kRoutedExpertsMaxGroupedPairs = 1 << 16;

// One of the three matrices of every expert: type and shape (the same for every expert) and a
// device table of n_expert device addresses.
struct RoutedMatrix {
  GgmlType type = GgmlType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;
  const void* const* table = nullptr;  // device [n_expert]
};

struct RoutedExpertsParams {
  RoutedMatrix gate, up, down;  // gate/up: n_ff x n_embd; down: n_embd x n_ff
  int32_t n_expert = 0;
  const float* x = nullptr;        // device [n_tokens, n_embd], 16-byte aligned
  const int32_t* ids = nullptr;    // device [n_tokens, k]
  const float* weights = nullptr;  // device [n_tokens, k]
  int32_t n_tokens = 0;
  int32_t k = 0;
  float* out = nullptr;            // device [n_tokens, n_embd], accumulated into
  void* scratch = nullptr;         // device, RoutedExpertsScratchBytes(...)
  size_t scratch_bytes = 0;
  // Optional, 16-byte aligned: x already quantized to int8 blocks of 32 (the levels of n_tokens
  // rows, then one 16-byte record per block: RmsNormQuantizeF32's layout), read instead of
  // quantizing x again where the gate and up products take int8 activations.
  const void* x_q8 = nullptr;
  // Optional, for batches past kRoutedExpertsMaxPairs: the pairs (t * k + j) grouped by expert,
  // made by the caller. Group g is expert group_expert[g] over pairs group_pairs[group_start[g]
  // .. group_start[g + 1]); every pair whose id is in range is in its expert's group.
  struct Groups {
    const int32_t* expert = nullptr;  // device [n]
    const int32_t* start = nullptr;   // device [n + 1]
    const int32_t* pairs = nullptr;   // device [n_tokens * k]
    int32_t n = 0;
  };
  Groups groups = {};
};

size_t RoutedExpertsScratchBytes(int64_t n_embd, int64_t n_ff, int32_t pairs);

// Whether the types and shapes fit (the expert addresses' alignment is the caller's to check with
// RoutedMatrixAddressFits when it builds the tables; the scratch is checked by RoutedExperts).
bool RoutedExpertsCanRun(const RoutedExpertsParams& p);
// RoutedExpertsCanRun's checks with the grouping given as whether there will be one and its number
// of groups, not its buffers (p.groups is not read): for a caller that builds the grouping only for
// a call that will run.
bool RoutedExpertsShapeFits(const RoutedExpertsParams& p, bool grouped, int32_t n_groups);
bool RoutedMatrixAddressFits(GgmlType type, const void* address);

// InvalidArgument (naming the shape) when !RoutedExpertsCanRun(p) or the scratch is short. Expert ids outside
// [0, n_expert) contribute nothing.
absl::Status RoutedExperts(const RoutedExpertsParams& p, CUstream_st* stream);

}  // namespace hobbit::kernels
