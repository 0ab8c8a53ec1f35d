// Step decoders for the matrix-vector kernel (quant_matvec.cu). Internal to kernels/cuda.
//
// A step is 8 elements of one block, two runs A and B of 4 consecutive elements, chosen so that
// the lanes of a warp taking consecutive steps read consecutive bytes of the block (no shared
// memory bank conflicts) and consecutive 16-byte pieces of x (fully used cache lines), and so
// that A and B share their quant bytes where the format packs them together (low and high nibbles,
// Q2_K/Q3_K bit pairs, Q6_K's high-bit byte). Decode gives integer levels as floats and, per run,
// a scale d and an offset m with weight = d * level - m, so the kernel computes
// d * (levels . x) - m * sum(x) per run: the per-element work is one byte permute and one add (the
// exponent trick below turns a small unsigned integer into a float exactly, at full rate) and one
// fused multiply-add; bit fields are unpacked four bytes at a time. Blocks are read from shared
// memory at any alignment (SmemBlock).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/internal/quant_blocks.cuh"

namespace hobbit::kernels::cuda_internal {

struct Step {
  float qa[4], qb[4];  // levels of runs A and B
  float da, db;        // scales
  float ma, mb;        // offsets (used when the type has kHasMin)
  int ea, eb;          // first element of each run within the block
};

// A block in the warp's shared-memory stage buffer. Reads go through the buffer's 32-bit words
// (no integer casts of the pointer, so the compiler keeps them as shared-memory loads): Word reads
// 4 bytes at any alignment with two aligned loads and a funnel shift, and may read up to 7 bytes
// past them (the stage buffer is padded for it).
struct SmemBlock {
  const uint32_t* words;  // the warp's stage buffer
  uint32_t off;           // byte offset of the block in it

  __device__ __forceinline__ uint32_t Word(uint32_t at) const {
    const uint32_t o = off + at;
    return __funnelshift_r(words[o >> 2], words[(o >> 2) + 1], (o & 3) * 8);
  }
  __device__ __forceinline__ uint32_t Byte(uint32_t at) const {
    return reinterpret_cast<const uint8_t*>(words)[off + at];
  }
};

__device__ __forceinline__ float HalfLow(uint32_t w) { return __half2float(__ushort_as_half(static_cast<unsigned short>(w))); }
__device__ __forceinline__ float HalfHigh(uint32_t w) { return HalfLow(w >> 16); }

// The four bytes of w (levels 0..255) as floats minus kBias, exactly: each byte is placed in the
// mantissa of 2^23 by one byte permute, then one add removes 2^23 + kBias.
template <int kBias>
__device__ __forceinline__ void Levels(uint32_t w, float (&q)[4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    q[i] = __int_as_float(__byte_perm(w, 0x4B000000u, 0x7540u | i)) - (8388608.0f + static_cast<float>(kBias));
  }
}

// Bits 0..3 of x moved to bit 0 of bytes 0..3.
__device__ __forceinline__ uint32_t SpreadBits(uint32_t x) { return ((x & 0xFu) * 0x00204081u) & 0x01010101u; }

struct F32Steps {
  using Block = F32Block;
  static constexpr bool kHasMin = false;
  __device__ __forceinline__ static void Decode(const SmemBlock& b, int s, Step& st) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      st.qa[i] = __uint_as_float(b.Word(32 * s + 4 * i));
      st.qb[i] = __uint_as_float(b.Word(32 * s + 16 + 4 * i));
    }
    st.da = st.db = 1.0f;
    st.ea = 8 * s;
    st.eb = 8 * s + 4;
  }
};

template <bool kBf16>
struct HalfSteps {
  using Block = std::conditional_t<kBf16, Bf16Block, F16Block>;
  static constexpr bool kHasMin = false;
  __device__ __forceinline__ static float Convert(uint32_t bits16) {
    return kBf16 ? __uint_as_float(bits16 << 16) : HalfLow(bits16);
  }
  __device__ __forceinline__ static void Decode(const SmemBlock& b, int s, Step& st) {
    const uint32_t w0 = b.Word(16 * s), w1 = b.Word(16 * s + 4);
    const uint32_t w2 = b.Word(16 * s + 8), w3 = b.Word(16 * s + 12);
    st.qa[0] = Convert(w0 & 0xFFFF), st.qa[1] = Convert(w0 >> 16);
    st.qa[2] = Convert(w1 & 0xFFFF), st.qa[3] = Convert(w1 >> 16);
    st.qb[0] = Convert(w2 & 0xFFFF), st.qb[1] = Convert(w2 >> 16);
    st.qb[2] = Convert(w3 & 0xFFFF), st.qb[3] = Convert(w3 >> 16);
    st.da = st.db = 1.0f;
    st.ea = 8 * s;
    st.eb = 8 * s + 4;
  }
};

// Q8_0: step s covers elements 8s .. 8s + 7.
struct Q8_0Steps {
  using Block = Q8_0Block;
  static constexpr bool kHasMin = false;
  __device__ __forceinline__ static void Decode(const SmemBlock& b, int s, Step& st) {
    const uint32_t wa = b.Word(2 + 8 * s) ^ 0x80808080u;  // int8 -> biased by 128
    const uint32_t wb = b.Word(6 + 8 * s) ^ 0x80808080u;
    Levels<128>(wa, st.qa);
    Levels<128>(wb, st.qb);
    st.da = st.db = HalfLow(b.Word(0));
    st.ea = 8 * s;
    st.eb = 8 * s + 4;
  }
};

// Q4_0/Q4_1/Q5_0/Q5_1: step s covers elements 4s.. (low nibbles) and 16 + 4s.. (high nibbles).
template <bool kMin, bool kQh>
struct Q45Steps {
  using Block = std::conditional_t<kQh, Q5Block<kMin>, Q4Block<kMin>>;
  static constexpr bool kHasMin = kMin;
  static constexpr int kBias = kMin ? 0 : (kQh ? 16 : 8);
  __device__ __forceinline__ static void Decode(const SmemBlock& b, int s, Step& st) {
    const uint32_t dm = b.Word(0);
    const int qs_at = (kMin ? 4 : 2) + (kQh ? 4 : 0);
    const uint32_t w = b.Word(qs_at + 4 * s);
    const uint32_t qh = kQh ? b.Word((kMin ? 4 : 2)) : 0u;
    uint32_t lo = w & 0x0F0F0F0Fu;
    uint32_t hi = (w >> 4) & 0x0F0F0F0Fu;
    if (kQh) {
      lo |= SpreadBits(qh >> (4 * s)) << 4;
      hi |= SpreadBits(qh >> (16 + 4 * s)) << 4;
    }
    Levels<kBias>(lo, st.qa);
    Levels<kBias>(hi, st.qb);
    st.da = st.db = HalfLow(dm);
    st.ma = st.mb = kMin ? -HalfHigh(dm) : 0.0f;  // weight = d * q + m
    st.ea = 4 * s;
    st.eb = 16 + 4 * s;
  }
};

// Q2_K (kHigh = false) and Q3_K (kHigh = true): step s: half n = s / 16, bit pairs j = 2p and
// 2p + 1 (p = (s % 16) / 8) of bytes qs[32n + l0 ..] with l0 = 4 (s % 8).
template <bool kHigh>
struct Q23KSteps {
  using Block = std::conditional_t<kHigh, Q3_KBlock, Q2_KBlock>;
  static constexpr bool kHasMin = !kHigh;
  __device__ __forceinline__ static float Q3Scale(const SmemBlock& b, int s) {
    const uint32_t low = s < 8 ? (b.Byte(96 + s) & 0xFu) : (b.Byte(96 + s - 8) >> 4);
    const uint32_t high = (b.Byte(96 + 8 + s % 4) >> (2 * (s / 4))) & 3u;
    return static_cast<float>(static_cast<int32_t>(low | high << 4) - 32);
  }
  __device__ __forceinline__ static void Decode(const SmemBlock& b, int s, Step& st) {
    const int n = s / 16;
    const int ja = 2 * ((s % 16) / 8);
    const int l0 = 4 * (s % 8);
    const uint32_t w = b.Word((kHigh ? 32 : 16) + 32 * n + l0);
    const uint32_t hm = kHigh ? b.Word(l0) : 0u;
    uint32_t a = (w >> (2 * ja)) & 0x03030303u;
    uint32_t c = (w >> (2 * ja + 2)) & 0x03030303u;
    if (kHigh) {
      a |= ((hm >> (4 * n + ja)) & 0x01010101u) << 2;
      c |= ((hm >> (4 * n + ja + 1)) & 0x01010101u) << 2;
    }
    Levels<kHigh ? 4 : 0>(a, st.qa);
    Levels<kHigh ? 4 : 0>(c, st.qb);
    const int sa = 8 * n + 2 * ja + l0 / 16;
    const int sb = sa + 2;
    if (kHigh) {
      const float d = HalfLow(b.Word(108));
      st.da = d * Q3Scale(b, sa);
      st.db = d * Q3Scale(b, sb);
    } else {
      const uint32_t dm = b.Word(80);
      const float d = HalfLow(dm), dmin = HalfHigh(dm);
      st.da = d * static_cast<float>(b.Byte(sa) & 0xF);
      st.db = d * static_cast<float>(b.Byte(sb) & 0xF);
      st.ma = dmin * static_cast<float>(b.Byte(sa) >> 4);
      st.mb = dmin * static_cast<float>(b.Byte(sb) >> 4);
    }
    st.ea = 128 * n + 32 * ja + l0;
    st.eb = st.ea + 32;
  }
};

// Q4_K / Q5_K: step s: chunk c = s / 8, bytes qs[32c + l0 ..] with l0 = 4 (s % 8); low nibbles are
// sub-block 2c (run A), high nibbles sub-block 2c + 1 (run B).
template <bool kQh>
struct QxKSteps {
  using Block = QxKBlock<kQh>;
  static constexpr bool kHasMin = true;
  // The 6-bit scale and min of sub-block j (get_scale_min_k4) from the 12 bytes at offset 4.
  __device__ __forceinline__ static void ScaleMin(const SmemBlock& b, int j, uint32_t& d, uint32_t& m) {
    if (j < 4) {
      d = b.Byte(4 + j) & 63u;
      m = b.Byte(4 + j + 4) & 63u;
    } else {
      d = (b.Byte(4 + j + 4) & 0xFu) | ((b.Byte(4 + j - 4) >> 6) << 4);
      m = (b.Byte(4 + j + 4) >> 4) | ((b.Byte(4 + j) >> 6) << 4);
    }
  }
  __device__ __forceinline__ static void Decode(const SmemBlock& b, int s, Step& st) {
    const int c = s / 8;
    const int l0 = 4 * (s % 8);
    const uint32_t w = b.Word((kQh ? 48 : 16) + 32 * c + l0);
    const uint32_t qh = kQh ? b.Word(16 + l0) : 0u;
    uint32_t lo = w & 0x0F0F0F0Fu;
    uint32_t hi = (w >> 4) & 0x0F0F0F0Fu;
    if (kQh) {
      lo |= ((qh >> (2 * c)) & 0x01010101u) << 4;
      hi |= ((qh >> (2 * c + 1)) & 0x01010101u) << 4;
    }
    Levels<0>(lo, st.qa);
    Levels<0>(hi, st.qb);
    const uint32_t dm = b.Word(0);
    const float d = HalfLow(dm), dmin = HalfHigh(dm);
    uint32_t sc, m;
    ScaleMin(b, 2 * c, sc, m);
    st.da = d * static_cast<float>(sc);
    st.ma = dmin * static_cast<float>(m);
    ScaleMin(b, 2 * c + 1, sc, m);
    st.db = d * static_cast<float>(sc);
    st.mb = dmin * static_cast<float>(m);
    st.ea = 64 * c + l0;
    st.eb = st.ea + 32;
  }
};

// Q6_K: step s: half n = s / 16, t = s % 16, k2 = t / 8, l0 = 4 (t % 8): the low nibbles of
// ql[64n + 32k2 + l0 ..] are quarter k2 (run A), the high nibbles quarter k2 + 2 (run B); both
// take their top bits from qh[32n + l0 ..].
struct Q6_KSteps {
  using Block = Q6_KBlock;
  static constexpr bool kHasMin = false;
  __device__ __forceinline__ static void Decode(const SmemBlock& b, int s, Step& st) {
    const int n = s / 16;
    const int t = s % 16;
    const int ka = t / 8;
    const int l0 = 4 * (t % 8);
    const uint32_t wl = b.Word(64 * n + 32 * ka + l0);
    const uint32_t wh = b.Word(128 + 32 * n + l0);
    const uint32_t a = (wl & 0x0F0F0F0Fu) | (((wh >> (2 * ka)) & 0x03030303u) << 4);
    const uint32_t c = ((wl >> 4) & 0x0F0F0F0Fu) | (((wh >> (2 * ka + 4)) & 0x03030303u) << 4);
    Levels<32>(a, st.qa);
    Levels<32>(c, st.qb);
    const float d = HalfLow(b.Word(208));
    const int sa = 8 * n + 2 * ka + l0 / 16;
    st.da = d * static_cast<float>(static_cast<int8_t>(b.Byte(192 + sa)));
    st.db = d * static_cast<float>(static_cast<int8_t>(b.Byte(192 + sa + 4)));
    st.ea = 128 * n + 32 * ka + l0;
    st.eb = st.ea + 64;
  }
};

// Calls f(Steps{}) with the step decoder of `type`; false for a type without one.
template <typename F>
bool DispatchStepType(GgmlType type, F&& f) {
  switch (type) {
    case GgmlType::kF32: f(F32Steps{}); return true;
    case GgmlType::kF16: f(HalfSteps<false>{}); return true;
    case GgmlType::kBF16: f(HalfSteps<true>{}); return true;
    case GgmlType::kQ8_0: f(Q8_0Steps{}); return true;
    case GgmlType::kQ4_0: f(Q45Steps<false, false>{}); return true;
    case GgmlType::kQ4_1: f(Q45Steps<true, false>{}); return true;
    case GgmlType::kQ5_0: f(Q45Steps<false, true>{}); return true;
    case GgmlType::kQ5_1: f(Q45Steps<true, true>{}); return true;
    case GgmlType::kQ2_K: f(Q23KSteps<false>{}); return true;
    case GgmlType::kQ3_K: f(Q23KSteps<true>{}); return true;
    case GgmlType::kQ4_K: f(QxKSteps<false>{}); return true;
    case GgmlType::kQ5_K: f(QxKSteps<true>{}); return true;
    case GgmlType::kQ6_K: f(Q6_KSteps{}); return true;
    default: return false;
  }
}

}  // namespace hobbit::kernels::cuda_internal
