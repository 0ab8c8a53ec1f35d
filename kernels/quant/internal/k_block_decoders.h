// Decoders for the 256-element K-quant blocks (Q2_K..Q6_K), with the same contract as
// block_decoders.h: Decode(src, dst, n), bit-exact with gguf-py when built without FP contraction.
// Internal to kernels/quant.
#pragma once

#include <cstdint>

#include "kernels/quant/internal/block_decoders.h"

namespace hobbit::kernels::quant_internal {

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4).
HOBBIT_QUANT_INLINE void UnpackScaleMinK4(const uint8_t* scales, float d, float dmin, float* dl,
                                          float* ml) {
  for (int j = 0; j < 8; ++j) {
    uint32_t sc, m;
    if (j < 4) {
      sc = scales[j] & 63u;
      m = scales[j + 4] & 63u;
    } else {
      sc = (scales[j + 4] & 0xFu) | ((scales[j - 4] >> 6) << 4);
      m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
    dl[j] = d * static_cast<float>(sc);
    ml[j] = dmin * static_cast<float>(m);
  }
}

// Q2_K: scales[16] @0 (low nibble scale, high nibble min), qs[64] @16, d @80, dmin @82.
// Element 128n + 32j + l is bits 2j..2j+1 of qs[32n + l]; the 16 elements 16h.. of that run
// form sub-block 8n + 2j + h.
struct Q2_KDecoder {
  static constexpr int64_t kBlockElems = 256;
  static constexpr int64_t kBlockBytes = 84;
  HOBBIT_QUANT_INLINE static void Block(const uint8_t* b, float* y) {
    const float d = LoadF16(b + 80);
    const float dmin = LoadF16(b + 82);
    float dl[16], ml[16];
    for (int s = 0; s < 16; ++s) {
      dl[s] = d * static_cast<float>(b[s] & 0xF);
      ml[s] = dmin * static_cast<float>(b[s] >> 4);
    }
    int8_t q[256];
    for (int n = 0; n < 2; ++n) {
      for (int h = 0; h < 2; ++h) {
        const U8x16 qs = LoadU8x16(b + 16 + 32 * n + 16 * h);
        for (int j = 0; j < 4; ++j)
          StoreI8x16(q + 128 * n + 32 * j + 16 * h, AsI8((qs >> (2 * j)) & 3));
      }
    }
    ScaleLevels<16, Offset::kSubtract>(q, dl, ml, y);
  }
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / 256; ++i) Block(src + i * kBlockBytes, dst + i * 256);
  }
};

// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96 (16 packed 6-bit scales, bias 32), d @108.
// Q2_K's 2-bit layout; a clear bit 4n + j of hmask[l] subtracts 4.
struct Q3_KDecoder {
  static constexpr int64_t kBlockElems = 256;
  static constexpr int64_t kBlockBytes = 110;
  HOBBIT_QUANT_INLINE static void Block(const uint8_t* b, float* y) {
    const uint8_t* sc = b + 96;
    const float d = LoadF16(b + 108);
    float dl[16];
    for (int s = 0; s < 16; ++s) {
      const uint32_t low = s < 8 ? (sc[s] & 0xFu) : (sc[s - 8] >> 4);
      const uint32_t high = (sc[8 + s % 4] >> (2 * (s / 4))) & 3u;
      dl[s] = d * static_cast<float>(static_cast<int32_t>(low | high << 4) - 32);
    }
    int8_t q[256];
    for (int n = 0; n < 2; ++n) {
      for (int h = 0; h < 2; ++h) {
        const U8x16 qs = LoadU8x16(b + 32 + 32 * n + 16 * h);
        const U8x16 hmask = LoadU8x16(b + 16 * h);
        for (int j = 0; j < 4; ++j) {
          StoreI8x16(q + 128 * n + 32 * j + 16 * h,
                     AsI8((qs >> (2 * j)) & 3) - 4 + BitAsValue(hmask, 4 * n + j, 4));
        }
      }
    }
    ScaleLevels<16, Offset::kNone>(q, dl, dl, y);
  }
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / 256; ++i) Block(src + i * kBlockBytes, dst + i * 256);
  }
};

// Q4_K (kQh = false): d @0, dmin @2, scales[12] @4, qs[128] @16. Q5_K (kQh = true): the same
// with qh[32] @16 and qs[128] @48. Chunk c of 64 elements takes the low nibbles of
// qs[32c .. 32c + 31] (sub-block 2c), then the high nibbles (sub-block 2c + 1); for Q5_K bit 2c
// or 2c + 1 of qh[l] is the 5th bit. y = (d * sc) * q - dmin * m.
template <bool kQh>
struct QxKDecoder {
  static constexpr int64_t kBlockElems = 256;
  static constexpr int64_t kBlockBytes = kQh ? 176 : 144;
  HOBBIT_QUANT_INLINE static void Block(const uint8_t* b, float* y) {
    float dl8[8], ml8[8], dl[16], ml[16];
    UnpackScaleMinK4(b + 4, LoadF16(b), LoadF16(b + 2), dl8, ml8);
    for (int g = 0; g < 16; ++g) {
      dl[g] = dl8[g / 2];
      ml[g] = ml8[g / 2];
    }
    const uint8_t* qs = b + (kQh ? 48 : 16);
    int8_t q[256];
    for (int h = 0; h < 2; ++h) {
      const U8x16 qh = kQh ? LoadU8x16(b + 16 + 16 * h) : U8x16{};
      for (int c = 0; c < 4; ++c) {
        const U8x16 v = LoadU8x16(qs + 32 * c + 16 * h);
        I8x16 lo = AsI8(v & 0xF);
        I8x16 hi = AsI8(v >> 4);
        if (kQh) {
          lo += BitAsValue(qh, 2 * c, 16);
          hi += BitAsValue(qh, 2 * c + 1, 16);
        }
        StoreI8x16(q + 64 * c + 16 * h, lo);
        StoreI8x16(q + 64 * c + 32 + 16 * h, hi);
      }
    }
    ScaleLevels<16, Offset::kSubtract>(q, dl, ml, y);
  }
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / 256; ++i) Block(src + i * kBlockBytes, dst + i * 256);
  }
};
using Q4_KDecoder = QxKDecoder<false>;
using Q5_KDecoder = QxKDecoder<true>;

// Q6_K: ql[128] @0, qh[64] @128, scales:int8[16] @192, d @208. Half h of 128 elements uses
// ql + 64h and qh + 32h; its quarter k (32 elements, l = 0..31) is the low (k < 2) or high nibble
// of ql[32 * (k % 2) + l] with bits 2k..2k+1 of qh[l] on top, minus 32. Sub-block s has scale s.
struct Q6_KDecoder {
  static constexpr int64_t kBlockElems = 256;
  static constexpr int64_t kBlockBytes = 210;
  HOBBIT_QUANT_INLINE static void Block(const uint8_t* b, float* y) {
    const float d = LoadF16(b + 208);
    float dl[16];
    for (int s = 0; s < 16; ++s) dl[s] = d * static_cast<float>(static_cast<int8_t>(b[192 + s]));
    int8_t q[256];
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; l += 16) {
        const U8x16 ql0 = LoadU8x16(b + 64 * h + l);
        const U8x16 ql1 = LoadU8x16(b + 64 * h + 32 + l);
        const U8x16 qh = LoadU8x16(b + 128 + 32 * h + l);
        int8_t* out = q + 128 * h + l;
        StoreI8x16(out, AsI8((ql0 & 0xF) | (qh & 3) << 4) - 32);
        StoreI8x16(out + 32, AsI8((ql1 & 0xF) | ((qh >> 2) & 3) << 4) - 32);
        StoreI8x16(out + 64, AsI8((ql0 >> 4) | ((qh >> 4) & 3) << 4) - 32);
        StoreI8x16(out + 96, AsI8((ql1 >> 4) | ((qh >> 6) & 3) << 4) - 32);
      }
    }
    ScaleLevels<16, Offset::kNone>(q, dl, dl, y);
  }
  HOBBIT_QUANT_INLINE static void Decode(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / 256; ++i) Block(src + i * kBlockBytes, dst + i * 256);
  }
};

}  // namespace hobbit::kernels::quant_internal
