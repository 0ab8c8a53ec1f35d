// Device decoders of the ggml block formats (docs: formats.md §2) for the CUDA GetRows
// (dequantize) kernel, which also feeds the prefill products; the decode kernel's faster step
// decoders (matvec_steps.cuh) reuse the block geometry. Internal to kernels/cuda.
//
// Every type is seen as blocks of kBlockElems elements in kBlockBytes bytes, decoded in units of
// 16 consecutive elements: Unit(block, u, w) writes elements 16u .. 16u + 15 of the block into w.
// The plain types (F32, F16, BF16) use blocks of 16 elements; the CPU path handles any row length
// for them, these decoders only rows of whole blocks. Bytes are read one at a time, so a block
// may sit at any alignment (in global or shared memory). The arithmetic follows gguf-py's order
// with every product and sum rounded on its own (__fmul_rn, __fadd_rn), so decoded values are
// bit-exact with kernels/quant's DequantizeRow.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/base/ggml_type.h"

namespace hobbit::kernels::cuda_internal {

__device__ __forceinline__ uint32_t LoadU16(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
}

__device__ __forceinline__ float LoadHalf(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(LoadU16(p))));
}

struct F32Block {
  static constexpr GgmlType kType = GgmlType::kF32;
  static constexpr int kBlockElems = 16;
  static constexpr int kBlockBytes = 64;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int, float (&w)[16]) {
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const uint8_t* p = b + 4 * i;
      w[i] = __uint_as_float(LoadU16(p) | (LoadU16(p + 2) << 16));
    }
  }
};

struct F16Block {
  static constexpr GgmlType kType = GgmlType::kF16;
  static constexpr int kBlockElems = 16;
  static constexpr int kBlockBytes = 32;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int, float (&w)[16]) {
#pragma unroll
    for (int i = 0; i < 16; ++i) w[i] = LoadHalf(b + 2 * i);
  }
};

struct Bf16Block {
  static constexpr GgmlType kType = GgmlType::kBF16;
  static constexpr int kBlockElems = 16;
  static constexpr int kBlockBytes = 32;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int, float (&w)[16]) {
#pragma unroll
    for (int i = 0; i < 16; ++i) w[i] = __uint_as_float(LoadU16(b + 2 * i) << 16);
  }
};

// Q8_0: d @0, qs:int8[32] @2.
struct Q8_0Block {
  static constexpr GgmlType kType = GgmlType::kQ8_0;
  static constexpr int kBlockElems = 32;
  static constexpr int kBlockBytes = 34;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int u, float (&w)[16]) {
    const float d = LoadHalf(b);
    const uint8_t* qs = b + 2 + 16 * u;
#pragma unroll
    for (int i = 0; i < 16; ++i) w[i] = __fmul_rn(static_cast<float>(static_cast<int8_t>(qs[i])), d);
  }
};

// Q4_0 (kMin = false: d @0, qs @2, y = d * (nib - 8)) and Q4_1 (d @0, m @2, qs @4,
// y = d * nib + m); unit 0 is the low nibbles, unit 1 the high ones.
template <bool kMin>
struct Q4Block {
  static constexpr GgmlType kType = kMin ? GgmlType::kQ4_1 : GgmlType::kQ4_0;
  static constexpr int kBlockElems = 32;
  static constexpr int kBlockBytes = kMin ? 20 : 18;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int u, float (&w)[16]) {
    const float d = LoadHalf(b);
    const float m = kMin ? LoadHalf(b + 2) : 0.0f;
    const uint8_t* qs = b + (kMin ? 4 : 2);
    const int shift = 4 * u;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int q = ((qs[i] >> shift) & 0xF) - (kMin ? 0 : 8);
      const float scaled = __fmul_rn(d, static_cast<float>(q));
      w[i] = kMin ? __fadd_rn(scaled, m) : scaled;
    }
  }
};
using Q4_0Block = Q4Block<false>;
using Q4_1Block = Q4Block<true>;

// Q5_0 (d @0, qh @2, qs @6, y = d * (q - 16)) and Q5_1 (d @0, m @2, qh @4, qs @8, y = d * q + m):
// bit j of the little-endian qh word is the fifth bit of element j.
template <bool kMin>
struct Q5Block {
  static constexpr GgmlType kType = kMin ? GgmlType::kQ5_1 : GgmlType::kQ5_0;
  static constexpr int kBlockElems = 32;
  static constexpr int kBlockBytes = kMin ? 24 : 22;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int u, float (&w)[16]) {
    const float d = LoadHalf(b);
    const float m = kMin ? LoadHalf(b + 2) : 0.0f;
    const uint8_t* qhp = b + (kMin ? 4 : 2);
    const uint32_t qh = LoadU16(qhp) | (LoadU16(qhp + 2) << 16);
    const uint8_t* qs = b + (kMin ? 8 : 6);
    const int shift = 4 * u;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int q = (((qs[i] >> shift) & 0xF) | (((qh >> (16 * u + i)) & 1) << 4)) - (kMin ? 0 : 16);
      const float scaled = __fmul_rn(d, static_cast<float>(q));
      w[i] = kMin ? __fadd_rn(scaled, m) : scaled;
    }
  }
};
using Q5_0Block = Q5Block<false>;
using Q5_1Block = Q5Block<true>;

// Q2_K: scales[16] @0, qs[64] @16, d @80, dmin @82. Unit u is sub-block u: half n = u / 8,
// shift 2j with j = (u % 8) / 2, bytes qs[32n + 16(u % 2) + i].
struct Q2_KBlock {
  static constexpr GgmlType kType = GgmlType::kQ2_K;
  static constexpr int kBlockElems = 256;
  static constexpr int kBlockBytes = 84;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int u, float (&w)[16]) {
    const float dl = __fmul_rn(LoadHalf(b + 80), static_cast<float>(b[u] & 0xF));
    const float ml = __fmul_rn(LoadHalf(b + 82), static_cast<float>(b[u] >> 4));
    const uint8_t* qs = b + 16 + 32 * (u / 8) + 16 * (u % 2);
    const int shift = 2 * ((u % 8) / 2);
#pragma unroll
    for (int i = 0; i < 16; ++i) w[i] = __fsub_rn(__fmul_rn(dl, static_cast<float>((qs[i] >> shift) & 3)), ml);
  }
};

// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96 (6-bit, bias 32), d @108. Q2_K's layout; a clear
// bit 4n + j of hmask[l] subtracts 4.
struct Q3_KBlock {
  static constexpr GgmlType kType = GgmlType::kQ3_K;
  static constexpr int kBlockElems = 256;
  static constexpr int kBlockBytes = 110;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int u, float (&w)[16]) {
    const uint8_t* sc = b + 96;
    const uint32_t low = u < 8 ? (sc[u] & 0xFu) : (sc[u - 8] >> 4);
    const uint32_t high = (sc[8 + u % 4] >> (2 * (u / 4))) & 3u;
    const float dl = __fmul_rn(LoadHalf(b + 108), static_cast<float>(static_cast<int32_t>(low | high << 4) - 32));
    const int n = u / 8;
    const int j = (u % 8) / 2;
    const int l0 = 16 * (u % 2);
    const uint8_t* qs = b + 32 + 32 * n + l0;
    const uint8_t* hm = b + l0;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int q = ((qs[i] >> (2 * j)) & 3) - (((hm[i] >> (4 * n + j)) & 1) ? 0 : 4);
      w[i] = __fmul_rn(dl, static_cast<float>(q));
    }
  }
};

// Q4_K (kQh = false: d @0, dmin @2, scales[12] @4, qs[128] @16) and Q5_K (qh[32] @16, qs @48).
// Unit u: chunk c = u / 4 of 64 elements, nibble h = (u % 4) / 2, bytes 32c + 16(u % 2) + i;
// sub-block 2c + h = u / 2. y = (d * sc) * q - dmin * m.
template <bool kQh>
struct QxKBlock {
  static constexpr GgmlType kType = kQh ? GgmlType::kQ5_K : GgmlType::kQ4_K;
  static constexpr int kBlockElems = 256;
  static constexpr int kBlockBytes = kQh ? 176 : 144;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int u, float (&w)[16]) {
    const int j = u / 2;
    const uint8_t* s = b + 4;
    uint32_t sc, m;
    if (j < 4) {
      sc = s[j] & 63u;
      m = s[j + 4] & 63u;
    } else {
      sc = (s[j + 4] & 0xFu) | ((s[j - 4] >> 6) << 4);
      m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
    const float dl = __fmul_rn(LoadHalf(b), static_cast<float>(sc));
    const float ml = __fmul_rn(LoadHalf(b + 2), static_cast<float>(m));
    const int c = u / 4;
    const int h = (u % 4) / 2;
    const int l0 = 16 * (u % 2);
    const uint8_t* qs = b + (kQh ? 48 : 16) + 32 * c + l0;
    const uint8_t* qh = b + 16 + l0;
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      int q = (qs[i] >> (4 * h)) & 0xF;
      if (kQh) q += ((qh[i] >> (2 * c + h)) & 1) << 4;
      w[i] = __fsub_rn(__fmul_rn(dl, static_cast<float>(q)), ml);
    }
  }
};
using Q4_KBlock = QxKBlock<false>;
using Q5_KBlock = QxKBlock<true>;

// Q6_K: ql[128] @0, qh[64] @128, scales:int8[16] @192, d @208. Unit u: half n = u / 8, quarter
// k = (u % 8) / 2, l = 16(u % 2) + i; low 4 bits from ql[64n + 32(k % 2) + l] (nibble k / 2), high
// 2 bits from bits 2k of qh[32n + l]; scale u; q - 32.
struct Q6_KBlock {
  static constexpr GgmlType kType = GgmlType::kQ6_K;
  static constexpr int kBlockElems = 256;
  static constexpr int kBlockBytes = 210;
  __device__ __forceinline__ static void Unit(const uint8_t* b, int u, float (&w)[16]) {
    const float dl = __fmul_rn(LoadHalf(b + 208), static_cast<float>(static_cast<int8_t>(b[192 + u])));
    const int n = u / 8;
    const int k = (u % 8) / 2;
    const int l0 = 16 * (u % 2);
    const uint8_t* ql = b + 64 * n + 32 * (k % 2) + l0;
    const uint8_t* qh = b + 128 + 32 * n + l0;
    const int lshift = 4 * (k / 2);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int q = (((ql[i] >> lshift) & 0xF) | (((qh[i] >> (2 * k)) & 3) << 4)) - 32;
      w[i] = __fmul_rn(dl, static_cast<float>(q));
    }
  }
};

// Calls f(Block{}) with the decoder of `type`; false for a type without one.
template <typename F>
bool DispatchBlockType(GgmlType type, F&& f) {
  switch (type) {
    case GgmlType::kF32: f(F32Block{}); return true;
    case GgmlType::kF16: f(F16Block{}); return true;
    case GgmlType::kBF16: f(Bf16Block{}); return true;
    case GgmlType::kQ8_0: f(Q8_0Block{}); return true;
    case GgmlType::kQ4_0: f(Q4_0Block{}); return true;
    case GgmlType::kQ4_1: f(Q4_1Block{}); return true;
    case GgmlType::kQ5_0: f(Q5_0Block{}); return true;
    case GgmlType::kQ5_1: f(Q5_1Block{}); return true;
    case GgmlType::kQ2_K: f(Q2_KBlock{}); return true;
    case GgmlType::kQ3_K: f(Q3_KBlock{}); return true;
    case GgmlType::kQ4_K: f(Q4_KBlock{}); return true;
    case GgmlType::kQ5_K: f(Q5_KBlock{}); return true;
    case GgmlType::kQ6_K: f(Q6_KBlock{}); return true;
    default: return false;
  }
}

}  // namespace hobbit::kernels::cuda_internal
