// Integer dot products of ggml weight blocks with int8-quantized activations (and float ones for
// F32/F16/BF16 weights, FloatDot), for the fast path of the matrix-vector kernel
// (quant_matvec.cu). Internal to kernels/cuda.
//
// Activations come as Q8 blocks of 32 (XBlocks below): int8 levels and, per block, its scale dx
// and the sums of its dequantized halves (elements 0..15 and 16..31). A weight block is split
// into kSubs parts; one thread loads a part straight from global memory (Load, into registers, so
// the loads of several rows are in flight together) and then takes its dot with each token's
// activations (Dot): __dp4a on four levels at a time, one float multiply-add per 16 or 32
// elements. A weight's bias or min is applied through the activation sums, so each part's value
// is the exact dot of the weight with the dequantized activations, up to float rounding.
//
// Loads are 4-byte words (16-byte vectors for Q4_K/Q5_K, single fp16 scales and Q6_K's int8
// scales as such) at the blocks' own alignment; the kernel needs W aligned to kAlign and row_bytes
// a multiple of kRowAlign. Blocks that sit at 2 mod 4 (Q8_0, Q4_0, Q5_0, Q3_K, Q6_K, whose sizes
// are only even) are read as aligned words and shifted (LoadWords). Everything a part needs for
// all tokens (levels, float scales) is decoded in Load, so a token costs only its activation
// loads, the __dp4a and a few multiply-adds.
//
// The decode is instruction-bound on the H200, so it is kept to few instructions per weight byte:
// levels that sit in the high bits of their byte (high nibbles, bit pairs) are dotted in place as
// unsigned bytes, 2^k times the level, with 2^-k folded into the activation scale (exact); the
// 6-bit and 4-bit scales are unpacked four to a word; and integers become floats through the
// float exponent (SumFloat, ByteTimes) rather than I2F, exactly.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/base/ggml_type.h"

namespace hobbit::kernels::cuda_internal {

// One token's activations at a weight block's first element: levels q and the metadata of the
// Q8 blocks from there on ({dx, sum of dequantized elements 0..15, of 16..31, unused}), and the
// float32 activations f themselves (used by the float weight types).
struct XBlocks {
  const int8_t* q;
  const float4* m;
  const float* f;
};

__device__ __forceinline__ uint32_t Ld32(const uint8_t* p) { return __ldg(reinterpret_cast<const unsigned int*>(p)); }
__device__ __forceinline__ uint32_t Ld16(const uint8_t* p) { return __ldg(reinterpret_cast<const unsigned short*>(p)); }
__device__ __forceinline__ float Half(uint32_t bits) { return __half2float(__ushort_as_half(static_cast<unsigned short>(bits))); }

// The 4N bytes at b + at (2-byte aligned, W 4-byte aligned) as N words, read as aligned words and
// shifted. At 2 mod 4 this also reads the 2 bytes after the span: every caller's span ends inside
// its block or at a block end that is 2 mod 4, which with row_bytes a multiple of 4 is never the
// end of W, so those bytes are in W. The alignment is taken from the block address b and at
// (whose value mod 4 the callers know at compile time), so the reads of one block share it.
template <int N>
__device__ __forceinline__ void LoadWords(const uint8_t* b, uint32_t at, uint32_t (&w)[N]) {
  const uint32_t head = (static_cast<uint32_t>(reinterpret_cast<uintptr_t>(b)) + at) & 3;
  const uint8_t* base = b + at - head;
  uint32_t r[N + 1];
#pragma unroll
  for (int i = 0; i < N; ++i) r[i] = Ld32(base + 4 * i);
  r[N] = head != 0 ? Ld32(base + 4 * N) : 0u;
#pragma unroll
  for (int i = 0; i < N; ++i) w[i] = __funnelshift_r(r[i], r[i + 1], 8 * head);
}

// The 4N bytes at p, 4-byte aligned.
template <int N>
__device__ __forceinline__ void LoadAligned(const uint8_t* p, uint32_t (&w)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) w[i] = Ld32(p + 4 * i);
}

__device__ __forceinline__ int4 LoadX16(const int8_t* p) { return __ldg(reinterpret_cast<const int4*>(p)); }
__device__ __forceinline__ int2 LoadX8(const int8_t* p) { return __ldg(reinterpret_cast<const int2*>(p)); }
__device__ __forceinline__ float4 LoadMeta(const float4* p) { return __ldg(p); }
// Sum of the dequantized half h (0 or 1) of a Q8 block.
__device__ __forceinline__ float HalfSum(float4 m, int h) { return h ? m.z : m.y; }

// Integers to floats without I2F, which runs at 16 per clock and SM on sm_90 (a quarter of the
// integer rate): an integer in the low mantissa bits of a power of two reads, exactly, as that
// power plus the integer, and one float add or fused multiply-add takes the power back off.
//
// The dp4a sums start from kSumBias instead of 0, so a sum s reads as the float 1.5 * 2^23 + s
// (exact for |s| < 2^22; every sum here is one of at most 32 products of a level < 256 and an
// int8 activation, |s| < 2^20), and SumFloat gives s back.
constexpr int kSumBias = 0x4B400000;
__device__ __forceinline__ float SumFloat(int acc) { return __int_as_float(acc) - 12582912.0f; }

// The float 2^23 + byte k of w (k may be a runtime value): one byte permute puts the byte in the
// mantissa of 2^23.
__device__ __forceinline__ float ByteAbove2p23(uint32_t w, uint32_t k) {
  return __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7440u | k));
}

// d times byte k of w, rounded once, as d * float(byte) is: d * (2^23 + byte) - 2^23 d is exact in
// one fused multiply-add. neg_d23 = -2^23 d (exact) is computed once per block.
__device__ __forceinline__ float ByteTimes(uint32_t w, uint32_t k, float d, float neg_d23) {
  return fmaf(d, ByteAbove2p23(w, k), neg_d23);
}

// __dp4a of four unsigned levels a (bytes 0..255) with four int8 activations b. CUDA has no
// intrinsic for the mixed form, the instruction has it. A level in the high bits of its byte (a
// high nibble, a bit pair) is then dotted in place, as 2^k times the level, without the shift
// down: its scale takes the 2^-k.
__device__ __forceinline__ int Dp4aUS(uint32_t a, int b, int c) {
#ifdef __CUDA_ARCH__
  int d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else  // host C++ (the host test)
  for (int i = 0; i < 4; ++i) c += static_cast<int>((a >> (8 * i)) & 0xFFu) * static_cast<int8_t>(b >> (8 * i));
  return c;
#endif
}

// acc + the dot of four levels a (int8, or with kU unsigned bytes) with four int8 activations b.
template <bool kU>
__device__ __forceinline__ int Dp4a(uint32_t a, int b, int acc) {
  if constexpr (kU) return Dp4aUS(a, b, acc);
  return __dp4a(static_cast<int>(a), b, acc);
}

template <bool kU = false>
__device__ __forceinline__ int Dot16(const uint32_t (&q)[4], int4 x, int acc) {
  acc = Dp4a<kU>(q[0], x.x, acc);
  acc = Dp4a<kU>(q[1], x.y, acc);
  acc = Dp4a<kU>(q[2], x.z, acc);
  return Dp4a<kU>(q[3], x.w, acc);
}

// Bits 0..3 of v moved to bit 4 of bytes 0..3.
__device__ __forceinline__ uint32_t SpreadBit4(uint32_t v) { return (((v & 0xFu) * 0x00204081u) & 0x01010101u) << 4; }

// The 4N levels of q (N = 2, 4 or 8 words; kU: unsigned bytes) dotted with the 4N activation
// levels at x (8-byte aligned for N = 2, else 16), added to acc.
template <int N, bool kU = false>
__device__ __forceinline__ int DotWords(const uint32_t (&q)[N], const int8_t* x, int acc) {
  if constexpr (N == 2) {
    const int2 v = LoadX8(x);
    acc = Dp4a<kU>(q[0], v.x, acc);
    return Dp4a<kU>(q[1], v.y, acc);
  } else {
#pragma unroll
    for (int c = 0; c < N / 4; ++c) {
      const int4 v = LoadX16(x + 16 * c);
      acc = Dp4a<kU>(q[4 * c], v.x, acc);
      acc = Dp4a<kU>(q[4 * c + 1], v.y, acc);
      acc = Dp4a<kU>(q[4 * c + 2], v.z, acc);
      acc = Dp4a<kU>(q[4 * c + 3], v.w, acc);
    }
    return acc;
  }
}

// Q8_0 (d @0, int8 qs[32] @2) in kParts parts (1, 2 or 4): part h is elements kE h .. kE h + kE - 1.
template <int kParts>
struct Q8_0Dot {
  static constexpr int kBlockElems = 32, kBlockBytes = 34, kSubs = kParts, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  static constexpr int kE = 32 / kParts;
  struct Part {
    uint32_t q[kE / 4];
    float d;
  };
  // Kept as before the K-quant changes (I2F, the quants' address aligned on its own): the
  // SumFloat form measured 5 points of bandwidth slower at 14336x4096 (81.7 -> 76.8 %, both
  // binaries in one run on the H200).
  __device__ __forceinline__ static void Load(const uint8_t* b, int h, Part& p) {
    LoadWords(b + 2 + kE * h, 0, p.q);
    p.d = Half(Ld16(b));
  }
  __device__ __forceinline__ static float Dot(const Part& p, int h, const XBlocks& x) {
    const float4 m = LoadMeta(x.m);
    return p.d * m.x * static_cast<float>(DotWords(p.q, x.q + kE * h, 0));
  }
};

// Q4_0/Q4_1/Q5_0/Q5_1 (ggml's 32-element blocks) in kParts parts (1 or 2): part h holds quant
// bytes kE h .. kE h + kE - 1, i.e. elements kE h .. (low nibbles) and 16 + kE h .. (high
// nibbles). Each part covers 1 / kParts of both 16-element halves, so it takes that share of the
// block's activation sum (the parts' shares add up to the exact sum). Without fifth bits the high
// nibbles stay in place (16 times the level, dotted unsigned) and the low nibbles' sum is scaled
// up to match: the part's sum is 16 times the level dot, and Dot takes 1/16 of the scale.
template <bool kMin, bool kQh, int kParts>
struct Q45Dot {
  static constexpr int kBlockElems = 32;
  static constexpr int kBlockBytes = (kMin ? 20 : 18) + (kQh ? 4 : 0);
  static constexpr int kSubs = kParts, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  static constexpr int kQsAt = (kMin ? 4 : 2) + (kQh ? 4 : 0);
  static constexpr int kE = 16 / kParts;
  static constexpr float kBias = kMin ? 0.0f : (kQh ? 16.0f : 8.0f);
  static constexpr float kSumScale = kQh ? 1.0f : 1.0f / 16;  // level dot / the part's sum
  struct Part {
    uint32_t lo[kE / 4], hi[kE / 4];  // hi: 16 times the levels without kQh
    float d, m;
  };
  __device__ __forceinline__ static void Load(const uint8_t* b, int h, Part& p) {
    uint32_t q[kE / 4];
    uint32_t head[kQh ? 2 : 1];  // d (and m), then qh
    if constexpr (kMin) {  // 20 / 24 bytes: every block is 4-byte aligned
      LoadAligned(b, head);
      LoadAligned(b + kQsAt + kE * h, q);
    } else {
      head[0] = Ld16(b);
      if constexpr (kQh && kParts == 1) {  // qh and the quants are one span
        uint32_t w[1 + kE / 4];
        LoadWords(b, 2, w);
        head[1] = w[0];
#pragma unroll
        for (int k = 0; k < kE / 4; ++k) q[k] = w[1 + k];
      } else {
        if constexpr (kQh) {
          uint32_t w[1];
          LoadWords(b, 2, w);
          head[1] = w[0];
        }
        LoadWords(b, kQsAt + kE * h, q);
      }
    }
    p.d = Half(head[0]);
    p.m = kMin ? Half(head[0] >> 16) : 0.0f;
    uint32_t qh = 0;
    if constexpr (kQh) qh = head[1];
#pragma unroll
    for (int k = 0; k < kE / 4; ++k) {
      p.lo[k] = q[k] & 0x0F0F0F0Fu;
      if constexpr (kQh) {
        p.lo[k] |= SpreadBit4(qh >> (kE * h + 4 * k));
        p.hi[k] = ((q[k] >> 4) & 0x0F0F0F0Fu) | SpreadBit4(qh >> (16 + kE * h + 4 * k));
      } else {
        p.hi[k] = q[k] & 0xF0F0F0F0u;
      }
    }
  }
  __device__ __forceinline__ static float Dot(const Part& p, int h, const XBlocks& x) {
    int s;
    if constexpr (kQh) {
      s = DotWords(p.hi, x.q + 16 + kE * h, DotWords(p.lo, x.q + kE * h, kSumBias));
    } else {
      s = DotWords<kE / 4, true>(p.hi, x.q + 16 + kE * h, kSumBias + 16 * DotWords(p.lo, x.q + kE * h, 0));
    }
    const float4 m = LoadMeta(x.m);
    const float share = (m.y + m.z) * (1.0f / kParts);
    const float dx = m.x * kSumScale;
    if constexpr (kMin) return fmaf(p.d * dx, SumFloat(s), p.m * share);
    return p.d * fmaf(dx, SumFloat(s), -kBias * share);
  }
};

// Q2_K (scales[16] @0, qs[64] @16, d @80, dmin @82): part (n, h) = sub n / 2, h = sub % 2 holds
// qs[32n + 16h ..] (16 bytes): bit pair j of it is elements 128n + 32j + 16h .. (sub-block
// 8n + 2j + h, half h of Q8 block 4n + j). Pair j stays in place (4^j times the level, dotted
// unsigned); Dot takes 4^-j of the activation scale.
struct Q2_KDot {
  static constexpr int kBlockElems = 256, kBlockBytes = 84, kSubs = 4, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  struct Part {
    uint32_t q[4][4];  // 4^j times the levels of bit pair j
    float d[4], m[4];  // d * scale and dmin * min of sub-block 8n + 2j + h
  };
  __device__ __forceinline__ static void Load(const uint8_t* b, int sub, Part& p) {
    const uint32_t n = static_cast<uint32_t>(sub) / 2, h = static_cast<uint32_t>(sub) % 2;
    uint32_t q[4], sc[2];
    LoadAligned(b + 16 + 32 * n + 16 * h, q);
    LoadAligned(b + 8 * n, sc);  // scales[8n ..]: sub-block 8n + 2j + h is byte 2 (j % 2) + h of sc[j / 2]
    const uint32_t dm = Ld32(b + 80);
    const float d = Half(dm), dmin = Half(dm >> 16);
    const float neg_d23 = -8388608.0f * d, neg_dmin23 = -8388608.0f * dmin;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int k = 0; k < 4; ++k) p.q[j][k] = q[k] & (0x03030303u << (2 * j));
      const uint32_t w = sc[j / 2], at = 2 * (j % 2) + h;
      p.d[j] = ByteTimes(w & 0x0F0F0F0Fu, at, d, neg_d23);
      p.m[j] = ByteTimes((w >> 4) & 0x0F0F0F0Fu, at, dmin, neg_dmin23);
    }
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const uint32_t n = static_cast<uint32_t>(sub) / 2, h = static_cast<uint32_t>(sub) % 2;
    float v = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float4 m = LoadMeta(x.m + 4 * n + j);
      const int s = Dot16<true>(p.q[j], LoadX16(x.q + 128 * n + 32 * j + 16 * h), kSumBias);
      const float dx = m.x * (1.0f / static_cast<float>(1 << (2 * j)));
      v = fmaf(p.d[j] * dx, SumFloat(s), fmaf(-p.m[j], HalfSum(m, h), v));
    }
    return v;
  }
};

// Q3_K (hmask[32] @0, qs[64] @32, scales[12] @96, d @108; 110 bytes, so blocks sit at 0 or 2 mod
// 4): laid out as Q2_K — part (n, h) = sub / 2, sub % 2 holds qs[32n + 16h ..] (16 bytes), bit pair
// j of it elements 128n + 32j + 16h .. (sub-block 8n + 2j + h, half h of Q8 block 4n + j) — plus
// hmask[16h ..] bit 4n + j: level = low bits + 4 * high bit - 4, scale 6 bits - 32. As in Q2_K the
// pairs stay in place, the high bit put above them (pair 3 moves down to bits 4..5 to make room).
struct Q3_KDot {
  static constexpr int kBlockElems = 256, kBlockBytes = 110, kSubs = 4, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  struct Part {
    uint32_t q[4][4];  // levels + 4 (0..7) of bit pair j, times 2^At(j)
    float d[4];        // d * (scale - 32) of sub-block 8n + 2j + h
  };
  // The lowest bit of pair j's level in its byte (2 j, but 4 for j = 3).
  __host__ __device__ static constexpr int At(int j) { return j < 3 ? 2 * j : 4; }
  // The 6-bit scales of sub-blocks 8n + 2j + h for j = 0, 1 (kHi = false) or 2, 3 (true) as bytes
  // h and 2 + h (ggml's aux shuffle, four bytes at once): low 4 bits from scales[4 kHi ..] (upper
  // nibbles for n = 1), high 2 bits from scales[8 ..] bits 4n + 2 kHi.
  template <bool kHi>
  __device__ __forceinline__ static uint32_t Scales4(const uint32_t (&sc)[3], uint32_t n) {
    const uint32_t high = (sc[2] >> (4 * n)) << (kHi ? 2 : 4);
    return ((sc[kHi ? 1 : 0] >> (4 * n)) & 0x0F0F0F0Fu) | (high & 0x30303030u);
  }
  __device__ __forceinline__ static void Load(const uint8_t* b, int sub, Part& p) {
    const uint32_t n = static_cast<uint32_t>(sub) / 2, h = static_cast<uint32_t>(sub) % 2;
    uint32_t q[4], hm[4], sc[3];
    LoadWords(b, 32 + 32 * n + 16 * h, q);
    LoadWords(b, 16 * h, hm);
    LoadWords(b, 96, sc);
    const float d = Half(Ld16(b + 108));
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t hb = hm[k] >> (4 * n);  // pair j's high bit at bit j
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t low = (q[k] >> (2 * j - At(j))) & (0x03030303u << At(j));
        p.q[j][k] = low | ((hb << (At(j) + 2 - j)) & (0x04040404u << At(j)));
      }
    }
    const uint32_t scales[2] = {Scales4<false>(sc, n), Scales4<true>(sc, n)};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      p.d[j] = d * (ByteAbove2p23(scales[j / 2], 2 * (j % 2) + h) - (8388608.0f + 32.0f));  // exact - 32
    }
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const uint32_t n = static_cast<uint32_t>(sub) / 2, h = static_cast<uint32_t>(sub) % 2;
    float v = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float4 m = LoadMeta(x.m + 4 * n + j);
      const int s = Dot16(p.q[j], LoadX16(x.q + 128 * n + 32 * j + 16 * h), kSumBias);
      const float dx = m.x * (1.0f / static_cast<float>(1 << At(j)));
      v = fmaf(p.d[j], fmaf(dx, SumFloat(s), -4.0f * HalfSum(m, h)), v);
    }
    return v;
  }
};

// Q4_K (d, dmin, scales[12] @0, qs[128] @16) and Q5_K (qh[32] @16, qs @48): part (c, h) = sub / 2,
// sub % 2 holds qs[32c + 16h ..]: low nibbles are elements 64c + 16h .. (sub-block 2c, half h of
// Q8 block 2c), high nibbles 64c + 32 + 16h .. (sub-block 2c + 1); Q5_K's fifth bits come from
// qh[16h ..] bits 2c and 2c + 1. Q4_K's high nibbles stay in place (16 times the level, dotted
// unsigned); Dot takes 1/16 of their activation scale.
template <bool kQh>
struct QxKDot {
  static constexpr int kBlockElems = 256, kBlockBytes = kQh ? 176 : 144, kSubs = 8, kAlign = 16,
                       kRowAlign = 16;
  static constexpr bool kInt8 = true;
  struct Part {
    uint32_t lo[4], hi[4];  // Q4_K: hi holds 16 times the levels
    float d0, d1, m0, m1;   // d * scale and dmin * min of sub-blocks 2c and 2c + 1
  };
  // The 6-bit scales (kMins: mins) of sub-blocks 4g .. 4g + 3 as bytes 0..3, g = c / 2 (ggml's
  // get_scale_min_k4, four at once): g = 0 takes the low 6 bits of scales[0..3] (mins: [4..7]);
  // g = 1 the low (mins: high) nibbles of scales[8..11] under the top 2 bits of scales[0..3]
  // ([4..7]).
  template <bool kMins>
  __device__ __forceinline__ static uint32_t Scales4(const uint4& head, bool g1) {
    const uint32_t top = kMins ? head.z : head.y;
    const uint32_t low = g1 ? (kMins ? head.w >> 4 : head.w) : top;
    return (low & 0x0F0F0F0Fu) | ((top >> (g1 ? 2 : 0)) & 0x30303030u);
  }
  __device__ __forceinline__ static void Load(const uint8_t* b, int sub, Part& p) {
    const uint32_t c = static_cast<uint32_t>(sub) / 2, h = static_cast<uint32_t>(sub) % 2;
    const uint4 head = __ldg(reinterpret_cast<const uint4*>(b));
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(b + (kQh ? 48 : 16) + 32 * c + 16 * h));
    const uint32_t qw[4] = {q.x, q.y, q.z, q.w};
    uint4 qh = make_uint4(0, 0, 0, 0);
    if constexpr (kQh) qh = __ldg(reinterpret_cast<const uint4*>(b + 16 + 16 * h));
    const uint32_t hw[4] = {qh.x, qh.y, qh.z, qh.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      p.lo[k] = qw[k] & 0x0F0F0F0Fu;
      if constexpr (kQh) {
        const uint32_t t = hw[k] >> (2 * c);  // fifth bits of sub-blocks 2c (bit 0) and 2c + 1 (bit 1)
        p.lo[k] |= (t << 4) & 0x10101010u;
        p.hi[k] = ((qw[k] >> 4) & 0x0F0F0F0Fu) | ((t << 3) & 0x10101010u);
      } else {
        p.hi[k] = qw[k] & 0xF0F0F0F0u;
      }
    }
    const bool g1 = c >= 2;
    const uint32_t scales = Scales4<false>(head, g1), mins = Scales4<true>(head, g1);
    const uint32_t at = 2 * (c % 2);  // sub-block 2c's byte in them
    const float d = Half(head.x), dmin = Half(head.x >> 16);
    const float neg_d23 = -8388608.0f * d, neg_dmin23 = -8388608.0f * dmin;
    p.d0 = ByteTimes(scales, at, d, neg_d23);
    p.d1 = ByteTimes(scales, at + 1, d, neg_d23);
    p.m0 = ByteTimes(mins, at, dmin, neg_dmin23);
    p.m1 = ByteTimes(mins, at + 1, dmin, neg_dmin23);
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const uint32_t c = static_cast<uint32_t>(sub) / 2, h = static_cast<uint32_t>(sub) % 2;
    const float4 xa = LoadMeta(x.m + 2 * c);
    const float4 xb = LoadMeta(x.m + 2 * c + 1);
    const int sa = Dot16(p.lo, LoadX16(x.q + 64 * c + 16 * h), kSumBias);
    const int sb = Dot16<!kQh>(p.hi, LoadX16(x.q + 64 * c + 32 + 16 * h), kSumBias);
    const float v = fmaf(p.d0 * xa.x, SumFloat(sa), -p.m0 * HalfSum(xa, h));
    const float dxb = xb.x * (kQh ? 1.0f : 1.0f / 16);
    return fmaf(p.d1 * dxb, SumFloat(sb), fmaf(-p.m1, HalfSum(xb, h), v));
  }
};

// Q6_K (ql[128] @0, qh[64] @128, int8 scales[16] @192, d @208): part (n, k, h) = sub / 4,
// (sub / 2) % 2, sub % 2 holds ql[64n + 32k + 16h ..] and qh[32n + 16h ..]: low nibbles with qh
// bits 2k are elements 128n + 32k + 16h .. (scale 8n + 2k + h, half h of Q8 block 4n + k), high
// nibbles with qh bits 2k + 4 the same 64 elements on (scale + 4, Q8 block 4n + k + 2).
struct Q6_KDot {
  static constexpr int kBlockElems = 256, kBlockBytes = 210, kSubs = 8, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  struct Part {
    uint32_t a[4], b[4];
    float da, db;  // d * scale of runs A and B
  };
  // d times the int8 at p, rounded once as d * float(int8) is: the int8 added to the bits of
  // 1.5 * 2^23 reads as 1.5 * 2^23 + int8, and one fused multiply-add takes 1.5 * 2^23 d (exact;
  // neg_d is minus it) back off. The byte load sign-extends it.
  __device__ __forceinline__ static float Int8Times(const uint8_t* p, float d, float neg_d) {
    return fmaf(d, __int_as_float(kSumBias + __ldg(reinterpret_cast<const signed char*>(p))), neg_d);
  }
  __device__ __forceinline__ static void Load(const uint8_t* blk, int sub, Part& p) {
    const uint32_t n = static_cast<uint32_t>(sub) / 4, k = (static_cast<uint32_t>(sub) / 2) % 2,
                   h = static_cast<uint32_t>(sub) % 2;
    uint32_t ql[4], qh[4];
    LoadWords(blk, 64 * n + 32 * k + 16 * h, ql);
    LoadWords(blk, 128 + 32 * n + 16 * h, qh);
    const float d = Half(Ld16(blk + 208));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      p.a[i] = (ql[i] & 0x0F0F0F0Fu) | ((qh[i] << (4 - 2 * k)) & 0x30303030u);
      p.b[i] = ((ql[i] >> 4) & 0x0F0F0F0Fu) | ((qh[i] >> (2 * k)) & 0x30303030u);
    }
    const uint8_t* scale_a = blk + 192 + 8 * n + 2 * k + h;  // run B's is 4 on
    const float neg_d = -12582912.0f * d;
    p.da = Int8Times(scale_a, d, neg_d);
    p.db = Int8Times(scale_a + 4, d, neg_d);
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const uint32_t n = static_cast<uint32_t>(sub) / 4, k = (static_cast<uint32_t>(sub) / 2) % 2,
                   h = static_cast<uint32_t>(sub) % 2;
    const float4 ma = LoadMeta(x.m + 4 * n + k);
    const float4 mb = LoadMeta(x.m + 4 * n + k + 2);
    const int sa = Dot16(p.a, LoadX16(x.q + 128 * n + 32 * k + 16 * h), kSumBias);
    const int sb = Dot16(p.b, LoadX16(x.q + 128 * n + 32 * k + 64 + 16 * h), kSumBias);
    const float va = fmaf(ma.x, SumFloat(sa), -32.0f * HalfSum(ma, h));
    const float vb = fmaf(mb.x, SumFloat(sb), -32.0f * HalfSum(mb, h));
    return fmaf(p.da, va, p.db * vb);
  }
};

// F32 / F16 / BF16 weights against the float32 activations (no int8 rounding): a part is one
// 16-byte vector of W.
template <GgmlType kType>
struct FloatDot {
  static constexpr int kBlockElems = kType == GgmlType::kF32 ? 4 : 8;
  static constexpr int kBlockBytes = 16, kSubs = 1, kAlign = 16, kRowAlign = 16;
  static constexpr bool kInt8 = false;
  struct Part {
    uint4 v;
  };
  __device__ __forceinline__ static void Load(const uint8_t* b, int, Part& p) {
    p.v = __ldg(reinterpret_cast<const uint4*>(b));
  }
  // Elements 2i and 2i + 1 of a 16-bit part word.
  __device__ __forceinline__ static float2 Pair(uint32_t w) {
    if constexpr (kType == GgmlType::kBF16) return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xFFFF0000u));
    return __half22float2(*reinterpret_cast<const __half2*>(&w));
  }
  __device__ __forceinline__ static float Dot(const Part& p, int, const XBlocks& x) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(x.f));
    if constexpr (kType == GgmlType::kF32) {
      return fmaf(__uint_as_float(p.v.w), a.w,
                  fmaf(__uint_as_float(p.v.z), a.z, fmaf(__uint_as_float(p.v.y), a.y, __uint_as_float(p.v.x) * a.x)));
    } else {
      const float4 b = __ldg(reinterpret_cast<const float4*>(x.f + 4));
      const float2 w0 = Pair(p.v.x), w1 = Pair(p.v.y), w2 = Pair(p.v.z), w3 = Pair(p.v.w);
      const float s0 = fmaf(w1.y, a.w, fmaf(w1.x, a.z, fmaf(w0.y, a.y, w0.x * a.x)));
      const float s1 = fmaf(w3.y, b.w, fmaf(w3.x, b.z, fmaf(w2.y, b.y, w2.x * b.x)));
      return s0 + s1;
    }
  }
};

// Calls f(Dot{}) with the dot of `type`; false for a type without one. The 32-element types take
// a whole block per thread: on the H200 that beat 2 and 4 parts per block by 6 to 15 points of
// the copy bandwidth at 1 token (fewer loads and activation reads per byte).
template <typename F>
bool DispatchDotType(GgmlType type, F&& f) {
  switch (type) {
    case GgmlType::kF32: f(FloatDot<GgmlType::kF32>{}); return true;
    case GgmlType::kF16: f(FloatDot<GgmlType::kF16>{}); return true;
    case GgmlType::kBF16: f(FloatDot<GgmlType::kBF16>{}); return true;
    case GgmlType::kQ8_0: f(Q8_0Dot<1>{}); return true;
    case GgmlType::kQ4_0: f(Q45Dot<false, false, 1>{}); return true;
    case GgmlType::kQ4_1: f(Q45Dot<true, false, 1>{}); return true;
    case GgmlType::kQ5_0: f(Q45Dot<false, true, 1>{}); return true;
    case GgmlType::kQ5_1: f(Q45Dot<true, true, 1>{}); return true;
    case GgmlType::kQ2_K: f(Q2_KDot{}); return true;
    case GgmlType::kQ3_K: f(Q3_KDot{}); return true;
    case GgmlType::kQ4_K: f(QxKDot<false>{}); return true;
    case GgmlType::kQ5_K: f(QxKDot<true>{}); return true;
    case GgmlType::kQ6_K: f(Q6_KDot{}); return true;
    default: return false;
  }
}

}  // namespace hobbit::kernels::cuda_internal
