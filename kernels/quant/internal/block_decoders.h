// Decoders from stored blocks to floats for the plain and 32-element types (the K-quants are in
// k_block_decoders.h), one struct per tensor type, shared by DequantizeRow (which must be
// bit-exact with ggml / gguf-py) and the dot kernels (which inline them into ISA-specific
// functions). Internal to kernels/quant.
//
// Each decoder has kBlockElems, kBlockBytes and
//   static void Decode(const uint8_t* src, float* dst, int64_t n);
// which reads n / kBlockElems * kBlockBytes bytes; REQUIRES n % kBlockElems == 0. The float
// arithmetic follows gguf-py's operation order (e.g. Q4_K: (d * sc) * q - dmin * m); compiled
// without FP contraction it is bit-exact. Everything is always_inline so that a caller compiled
// for AVX2 gets AVX2 code.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "kernels/base/half.h"

namespace hobbit::kernels::quant_internal {

static_assert(std::endian::native == std::endian::little,
              "block layouts are decoded as little-endian");

#define HOBBIT_QUANT_INLINE [[gnu::always_inline]] inline

HOBBIT_QUANT_INLINE uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

HOBBIT_QUANT_INLINE float LoadF16(const uint8_t* p) { return F16ToF32(LoadU16(p)); }

// Block decoders run in two passes. First the bit fields are unpacked, 16 bytes at a time, into
// int8 levels in a stack array, using GCC generic vectors (portable: SSE2, AVX2 and NEON code
// from one source; the equivalent byte loops came out scalar once inlined into the dot kernels).
// Then ScaleLevels converts and scales each group of 16 levels with its own scale (and offset).
// The second pass reads the array in the same 16-byte pieces the first pass stored, so the loads
// forward from the stores without stalls. (GCC 12 lowers __builtin_convertvector from int8 to
// float vectors to scalar code, hence the array rather than a register-only pipeline.)
using U8x16 = uint8_t __attribute__((vector_size(16)));
using I8x16 = int8_t __attribute__((vector_size(16)));

HOBBIT_QUANT_INLINE U8x16 LoadU8x16(const uint8_t* p) {
  U8x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

HOBBIT_QUANT_INLINE void StoreI8x16(int8_t* p, I8x16 v) { std::memcpy(p, &v, sizeof v); }

HOBBIT_QUANT_INLINE I8x16 AsI8(U8x16 v) { return reinterpret_cast<I8x16>(v); }

// A vector of 16 copies of x. (Mixing a non-constant scalar into a vector expression is
// rejected when GCC cannot prove the value fits the lane type, e.g. under -fsanitize.)
HOBBIT_QUANT_INLINE U8x16 SplatU8(uint8_t x) {
  return U8x16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}
HOBBIT_QUANT_INLINE I8x16 SplatI8(int8_t x) {
  return I8x16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

// 16 lanes of 0 or `value`, chosen by bit `bit` of each byte of v (a vector compare gives 0 / -1).
HOBBIT_QUANT_INLINE I8x16 BitAsValue(U8x16 v, int bit, int8_t value) {
  return ((v & SplatU8(static_cast<uint8_t>(1u << bit))) != 0) & SplatI8(value);
}

enum class Offset { kNone, kAdd, kSubtract };

// For each group g of 16 levels: y = d[g] * q, d[g] * q + m[g] or d[g] * q - m[g] (gguf-py's
// operation order for each type).
template <int kGroups, Offset kOffset>
HOBBIT_QUANT_INLINE void ScaleLevels(const int8_t* q, const float* d, const float* m, float* y) {
  for (int g = 0; g < kGroups; ++g) {
    for (int i = 0; i < 16; ++i) {
      const float scaled = d[g] * static_cast<float>(q[16 * g + i]);
      if constexpr (kOffset == Offset::kNone) {
        y[16 * g + i] = scaled;
      } else if constexpr (kOffset == Offset::kAdd) {
        y[16 * g + i] = scaled + m[g];
      } else {
        y[16 * g + i] = scaled - m[g];
      }
    }
  }
}

// Branch-free twin of F16ToF32 (bit-identical for all 65536 inputs, NaN payloads included) that
// vectorizes. Subnormals go through an exact int->float conversion, so it stays exact even when
// the FPU flushes denormals.
HOBBIT_QUANT_INLINE float F16ToF32Vectorizable(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp_mant = h & 0x7fffu;
  // Rebias the exponent by 127 - 15, and once more for inf / NaN so their exponent is all ones.
  const uint32_t normal =
      (exp_mant << 13) + (112u << 23) + static_cast<uint32_t>(exp_mant >= 0x7c00u) * (112u << 23);
  const float sub = static_cast<float>(static_cast<int32_t>(exp_mant)) * 0x1p-24f;
  uint32_t sub_bits;
  std::memcpy(&sub_bits, &sub, sizeof sub_bits);
  const uint32_t is_sub = 0u - static_cast<uint32_t>(exp_mant < 0x400u);  // all ones or zero
  const uint32_t bits = sign | (sub_bits & is_sub) | (normal & ~is_sub);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

struct F32Decoder {
  static constexpr int64_t kBlockElems = 1;
  static constexpr int64_t kBlockBytes = 4;
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  }
};

struct F16Decoder {
  static constexpr int64_t kBlockElems = 1;
  static constexpr int64_t kBlockBytes = 2;
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32Vectorizable(LoadU16(src + 2 * i));
  }
};

struct Bf16Decoder {
  static constexpr int64_t kBlockElems = 1;
  static constexpr int64_t kBlockBytes = 2;
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t bits = static_cast<uint32_t>(LoadU16(src + 2 * i)) << 16;
      std::memcpy(dst + i, &bits, sizeof bits);
    }
  }
};

// Q8_0: d:f16 @0, qs:int8[32] @2.
struct Q8_0Decoder {
  static constexpr int64_t kBlockElems = 32;
  static constexpr int64_t kBlockBytes = 34;
  HOBBIT_QUANT_INLINE static void Block(const uint8_t* b, float* y) {
    const float d = LoadF16(b);
    for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(static_cast<int8_t>(b[2 + i])) * d;
  }
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / 32; ++i) Block(src + i * kBlockBytes, dst + i * 32);
  }
};

// Q4_0 (d @0, qs[16] @2; y = d * (nibble - 8)) and Q4_1 (d @0, m @2, qs[16] @4;
// y = d * nibble + m): low nibbles are elements 0..15, high nibbles 16..31.
template <bool kMin>
struct Q4Decoder {
  static constexpr int64_t kBlockElems = 32;
  static constexpr int64_t kBlockBytes = kMin ? 20 : 18;
  HOBBIT_QUANT_INLINE static void Block(const uint8_t* b, float* y) {
    const float d[2] = {LoadF16(b), LoadF16(b)};
    const float m[2] = {kMin ? LoadF16(b + 2) : 0.0f, kMin ? LoadF16(b + 2) : 0.0f};
    const U8x16 qs = LoadU8x16(b + (kMin ? 4 : 2));
    const I8x16 bias = SplatI8(kMin ? 0 : 8);
    int8_t q[32];
    StoreI8x16(q, AsI8(qs & 0xF) - bias);
    StoreI8x16(q + 16, AsI8(qs >> 4) - bias);
    ScaleLevels<2, kMin ? Offset::kAdd : Offset::kNone>(q, d, m, y);
  }
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / 32; ++i) Block(src + i * kBlockBytes, dst + i * 32);
  }
};
using Q4_0Decoder = Q4Decoder<false>;
using Q4_1Decoder = Q4Decoder<true>;

// Q5_0 (d @0, qh[4] @2, qs[16] @6; y = d * (q5 - 16)) and Q5_1 (d @0, m @2, qh[4] @4,
// qs[16] @8; y = d * q5 + m): the Q4 nibbles plus bit j of the little-endian 32-bit qh word as
// the 5th bit of element j.
template <bool kMin>
struct Q5Decoder {
  static constexpr int64_t kBlockElems = 32;
  static constexpr int64_t kBlockBytes = kMin ? 24 : 22;
  HOBBIT_QUANT_INLINE static void Block(const uint8_t* b, float* y) {
    const float d[2] = {LoadF16(b), LoadF16(b)};
    const float m[2] = {kMin ? LoadF16(b + 2) : 0.0f, kMin ? LoadF16(b + 2) : 0.0f};
    const uint8_t* qh = b + (kMin ? 4 : 2);
    const U8x16 qs = LoadU8x16(b + (kMin ? 8 : 6));
    const U8x16 masks = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const I8x16 bias = SplatI8(kMin ? 0 : 16);
    int8_t q[32];
    for (int h = 0; h < 2; ++h) {
      const uint8_t b0 = qh[2 * h];
      const uint8_t b1 = qh[2 * h + 1];
      const U8x16 high = {b0, b0, b0, b0, b0, b0, b0, b0, b1, b1, b1, b1, b1, b1, b1, b1};
      const U8x16 nibbles = h == 0 ? (qs & 0xF) : (qs >> 4);
      StoreI8x16(q + 16 * h, AsI8(nibbles) + (((high & masks) != 0) & 16) - bias);
    }
    ScaleLevels<2, kMin ? Offset::kAdd : Offset::kNone>(q, d, m, y);
  }
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / 32; ++i) Block(src + i * kBlockBytes, dst + i * 32);
  }
};
using Q5_0Decoder = Q5Decoder<false>;
using Q5_1Decoder = Q5Decoder<true>;

}  // namespace hobbit::kernels::quant_internal
