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
// Loads are 4-byte words (16-byte vectors for Q4_K/Q5_K) at the blocks' own alignment; the
// kernel needs W aligned to kAlign and row_bytes a multiple of kRowAlign. Blocks that sit at
// 2 mod 4 (Q8_0, Q4_0, Q5_0, Q3_K, Q6_K, whose sizes are only even) are read as aligned words and
// shifted (LoadWords). Everything a part needs for all tokens (levels, float scales) is decoded in
// Load, so a token costs only its activation loads, the __dp4a and a few multiply-adds.
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

// The 4N bytes at p (2-byte aligned, W 4-byte aligned) as N words, read as aligned words and
// shifted. At p = 2 mod 4 this also reads the 2 bytes after the span: every caller's span ends
// inside its block or at a block end that is 2 mod 4, which with row_bytes a multiple of 4 is
// never the end of W, so those bytes are in W.
template <int N>
__device__ __forceinline__ void LoadWords(const uint8_t* p, uint32_t (&w)[N]) {
  const uint32_t head = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) & 3);
  const uint8_t* base = p - head;
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

__device__ __forceinline__ int Dot16(const uint32_t (&q)[4], int4 x, int acc = 0) {
  acc = __dp4a(static_cast<int>(q[0]), x.x, acc);
  acc = __dp4a(static_cast<int>(q[1]), x.y, acc);
  acc = __dp4a(static_cast<int>(q[2]), x.z, acc);
  return __dp4a(static_cast<int>(q[3]), x.w, acc);
}

// Bits 0..3 of v moved to bit 4 of bytes 0..3.
__device__ __forceinline__ uint32_t SpreadBit4(uint32_t v) { return (((v & 0xFu) * 0x00204081u) & 0x01010101u) << 4; }

// The 4N levels of q (N = 2, 4 or 8 words) dotted with the 4N activation levels at x (8-byte
// aligned for N = 2, else 16), added to acc.
template <int N>
__device__ __forceinline__ int DotWords(const uint32_t (&q)[N], const int8_t* x, int acc) {
  if constexpr (N == 2) {
    const int2 v = LoadX8(x);
    acc = __dp4a(static_cast<int>(q[0]), v.x, acc);
    return __dp4a(static_cast<int>(q[1]), v.y, acc);
  } else {
#pragma unroll
    for (int c = 0; c < N / 4; ++c) {
      const int4 v = LoadX16(x + 16 * c);
      acc = __dp4a(static_cast<int>(q[4 * c]), v.x, acc);
      acc = __dp4a(static_cast<int>(q[4 * c + 1]), v.y, acc);
      acc = __dp4a(static_cast<int>(q[4 * c + 2]), v.z, acc);
      acc = __dp4a(static_cast<int>(q[4 * c + 3]), v.w, acc);
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
  __device__ __forceinline__ static void Load(const uint8_t* b, int h, Part& p) {
    LoadWords(b + 2 + kE * h, p.q);
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
// block's activation sum (the parts' shares add up to the exact sum).
template <bool kMin, bool kQh, int kParts>
struct Q45Dot {
  static constexpr int kBlockElems = 32;
  static constexpr int kBlockBytes = (kMin ? 20 : 18) + (kQh ? 4 : 0);
  static constexpr int kSubs = kParts, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  static constexpr int kQsAt = (kMin ? 4 : 2) + (kQh ? 4 : 0);
  static constexpr int kE = 16 / kParts;
  static constexpr float kBias = kMin ? 0.0f : (kQh ? 16.0f : 8.0f);
  struct Part {
    uint32_t lo[kE / 4], hi[kE / 4];
    float d, m;
  };
  __device__ __forceinline__ static void Load(const uint8_t* b, int h, Part& p) {
    uint32_t q[kE / 4];
    uint32_t head[kQh ? 2 : 1];
    if constexpr (kMin) {  // 20 / 24 bytes: every block is 4-byte aligned
      LoadAligned(b, head);
      LoadAligned(b + kQsAt + kE * h, q);
    } else {
      LoadWords(b, head);
      LoadWords(b + kQsAt + kE * h, q);
    }
    p.d = Half(head[0]);
    p.m = kMin ? Half(head[0] >> 16) : 0.0f;
    uint32_t qh = 0;
    if constexpr (kQh) qh = kMin ? head[1] : __funnelshift_r(head[0], head[1], 16);
#pragma unroll
    for (int k = 0; k < kE / 4; ++k) {
      p.lo[k] = q[k] & 0x0F0F0F0Fu;
      p.hi[k] = (q[k] >> 4) & 0x0F0F0F0Fu;
      if constexpr (kQh) {
        p.lo[k] |= SpreadBit4(qh >> (kE * h + 4 * k));
        p.hi[k] |= SpreadBit4(qh >> (16 + kE * h + 4 * k));
      }
    }
  }
  __device__ __forceinline__ static float Dot(const Part& p, int h, const XBlocks& x) {
    int s = DotWords(p.lo, x.q + kE * h, 0);
    s = DotWords(p.hi, x.q + 16 + kE * h, s);
    const float4 m = LoadMeta(x.m);
    const float share = (m.y + m.z) * (1.0f / kParts);
    if constexpr (kMin) return fmaf(p.d * m.x, static_cast<float>(s), p.m * share);
    return p.d * fmaf(m.x, static_cast<float>(s), -kBias * share);
  }
};

// Q2_K (scales[16] @0, qs[64] @16, d @80, dmin @82): part (n, h) = sub n / 2, h = sub % 2 holds
// qs[32n + 16h ..] (16 bytes): bit pair j of it is elements 128n + 32j + 16h .. (sub-block
// 8n + 2j + h, half h of Q8 block 4n + j).
struct Q2_KDot {
  static constexpr int kBlockElems = 256, kBlockBytes = 84, kSubs = 4, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  struct Part {
    uint32_t q[4][4];  // levels of bit pair j
    float d[4], m[4];  // d * scale and dmin * min of sub-block 8n + 2j + h
  };
  __device__ __forceinline__ static void Load(const uint8_t* b, int sub, Part& p) {
    const int n = sub / 2, h = sub % 2;
    uint32_t q[4], sc[2];
    LoadAligned(b + 16 + 32 * n + 16 * h, q);
    LoadAligned(b + 8 * n, sc);
    const uint32_t dm = Ld32(b + 80);
    const float d = Half(dm), dmin = Half(dm >> 16);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int k = 0; k < 4; ++k) p.q[j][k] = (q[k] >> (2 * j)) & 0x03030303u;
      const uint32_t s = (sc[j / 2] >> (16 * (j % 2) + 8 * h)) & 0xFFu;
      p.d[j] = d * static_cast<float>(s & 0xFu);
      p.m[j] = dmin * static_cast<float>(s >> 4);
    }
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const int n = sub / 2, h = sub % 2;
    float v = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float4 m = LoadMeta(x.m + 4 * n + j);
      const int s = Dot16(p.q[j], LoadX16(x.q + 128 * n + 32 * j + 16 * h));
      v = fmaf(p.d[j] * m.x, static_cast<float>(s), fmaf(-p.m[j], HalfSum(m, h), v));
    }
    return v;
  }
};

// Q3_K (hmask[32] @0, qs[64] @32, scales[12] @96, d @108; 110 bytes, so blocks sit at 0 or 2 mod
// 4): laid out as Q2_K — part (n, h) = sub / 2, sub % 2 holds qs[32n + 16h ..] (16 bytes), bit pair
// j of it elements 128n + 32j + 16h .. (sub-block 8n + 2j + h, half h of Q8 block 4n + j) — plus
// hmask[16h ..] bit 4n + j: level = low bits + 4 * high bit - 4, scale 6 bits - 32.
struct Q3_KDot {
  static constexpr int kBlockElems = 256, kBlockBytes = 110, kSubs = 4, kAlign = 4, kRowAlign = 4;
  static constexpr bool kInt8 = true;
  struct Part {
    uint32_t q[4][4];  // levels + 4 (0..7) of bit pair j
    float d[4];        // d * (scale - 32) of sub-block 8n + 2j + h
  };
  // Scale s (0..15) from the 12 packed bytes (ggml's aux shuffle): low 4 bits from byte s % 4 of
  // word (s / 4) % 2 (upper nibble for s >= 8), high 2 bits from byte s % 4 of word 2.
  __device__ __forceinline__ static int Scale(const uint32_t (&sc)[3], int s) {
    const int g = s / 4, b = s % 4;
    const uint32_t low = ((g % 2 == 0 ? sc[0] : sc[1]) >> (8 * b + (g >= 2 ? 4 : 0))) & 0xFu;
    const uint32_t high = (sc[2] >> (8 * b + 2 * g)) & 0x3u;
    return static_cast<int>(low | (high << 4)) - 32;
  }
  __device__ __forceinline__ static void Load(const uint8_t* b, int sub, Part& p) {
    const int n = sub / 2, h = sub % 2;
    uint32_t q[4], hm[4], sc[3];
    LoadWords(b + 32 + 32 * n + 16 * h, q);
    LoadWords(b + 16 * h, hm);
    LoadWords(b + 96, sc);
    const float d = Half(Ld16(b + 108));
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        p.q[j][k] = ((q[k] >> (2 * j)) & 0x03030303u) | (((hm[k] >> (4 * n + j)) & 0x01010101u) << 2);
      }
      p.d[j] = d * static_cast<float>(Scale(sc, 8 * n + 2 * j + h));
    }
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const int n = sub / 2, h = sub % 2;
    float v = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float4 m = LoadMeta(x.m + 4 * n + j);
      const int s = Dot16(p.q[j], LoadX16(x.q + 128 * n + 32 * j + 16 * h));
      v = fmaf(p.d[j] * m.x, static_cast<float>(s), fmaf(-4.0f * p.d[j], HalfSum(m, h), v));
    }
    return v;
  }
};

// Q4_K (d, dmin, scales[12] @0, qs[128] @16) and Q5_K (qh[32] @16, qs @48): part (c, h) = sub / 2,
// sub % 2 holds qs[32c + 16h ..]: low nibbles are elements 64c + 16h .. (sub-block 2c, half h of
// Q8 block 2c), high nibbles 64c + 32 + 16h .. (sub-block 2c + 1); Q5_K's fifth bits come from
// qh[16h ..] bits 2c and 2c + 1.
template <bool kQh>
struct QxKDot {
  static constexpr int kBlockElems = 256, kBlockBytes = kQh ? 176 : 144, kSubs = 8, kAlign = 16,
                       kRowAlign = 16;
  static constexpr bool kInt8 = true;
  struct Part {
    uint32_t lo[4], hi[4];
    float d0, d1, m0, m1;  // d * scale and dmin * min of sub-blocks 2c and 2c + 1
  };
  // Byte i (runtime, 0..11) of the scales.
  __device__ __forceinline__ static uint32_t ScaleByte(const uint4& head, int i) {
    const uint32_t w = i < 4 ? head.y : (i < 8 ? head.z : head.w);
    return (w >> (8 * (i % 4))) & 0xFFu;
  }
  // get_scale_min_k4.
  __device__ __forceinline__ static void ScaleMin(const uint4& head, int j, float& sc, float& m) {
    uint32_t a, b;
    if (j < 4) {
      a = ScaleByte(head, j) & 63u;
      b = ScaleByte(head, j + 4) & 63u;
    } else {
      a = (ScaleByte(head, j + 4) & 0xFu) | ((ScaleByte(head, j - 4) >> 6) << 4);
      b = (ScaleByte(head, j + 4) >> 4) | ((ScaleByte(head, j) >> 6) << 4);
    }
    sc = static_cast<float>(a);
    m = static_cast<float>(b);
  }
  __device__ __forceinline__ static void Load(const uint8_t* b, int sub, Part& p) {
    const int c = sub / 2, h = sub % 2;
    const uint4 head = __ldg(reinterpret_cast<const uint4*>(b));
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(b + (kQh ? 48 : 16) + 32 * c + 16 * h));
    const uint32_t qw[4] = {q.x, q.y, q.z, q.w};
    uint4 qh = make_uint4(0, 0, 0, 0);
    if constexpr (kQh) qh = __ldg(reinterpret_cast<const uint4*>(b + 16 + 16 * h));
    const uint32_t hw[4] = {qh.x, qh.y, qh.z, qh.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      p.lo[k] = qw[k] & 0x0F0F0F0Fu;
      p.hi[k] = (qw[k] >> 4) & 0x0F0F0F0Fu;
      if constexpr (kQh) {
        p.lo[k] |= ((hw[k] >> (2 * c)) & 0x01010101u) << 4;
        p.hi[k] |= ((hw[k] >> (2 * c + 1)) & 0x01010101u) << 4;
      }
    }
    float sc0, m0, sc1, m1;
    ScaleMin(head, 2 * c, sc0, m0);
    ScaleMin(head, 2 * c + 1, sc1, m1);
    const float d = Half(head.x), dmin = Half(head.x >> 16);
    p.d0 = d * sc0;
    p.d1 = d * sc1;
    p.m0 = dmin * m0;
    p.m1 = dmin * m1;
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const int c = sub / 2, h = sub % 2;
    const float4 xa = LoadMeta(x.m + 2 * c);
    const float4 xb = LoadMeta(x.m + 2 * c + 1);
    const int sa = Dot16(p.lo, LoadX16(x.q + 64 * c + 16 * h));
    const int sb = Dot16(p.hi, LoadX16(x.q + 64 * c + 32 + 16 * h));
    const float v = fmaf(p.d0 * xa.x, static_cast<float>(sa), -p.m0 * HalfSum(xa, h));
    return fmaf(p.d1 * xb.x, static_cast<float>(sb), fmaf(-p.m1, HalfSum(xb, h), v));
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
  __device__ __forceinline__ static void Load(const uint8_t* blk, int sub, Part& p) {
    const int n = sub / 4, k = (sub / 2) % 2, h = sub % 2;
    uint32_t ql[4], qh[4], sc[2];
    LoadWords(blk + 64 * n + 32 * k + 16 * h, ql);
    LoadWords(blk + 128 + 32 * n + 16 * h, qh);
    LoadWords(blk + 192 + 8 * n, sc);  // scales[8n .. 8n + 7]
    const float d = Half(Ld16(blk + 208));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      p.a[i] = (ql[i] & 0x0F0F0F0Fu) | (((qh[i] >> (2 * k)) & 0x03030303u) << 4);
      p.b[i] = ((ql[i] >> 4) & 0x0F0F0F0Fu) | (((qh[i] >> (2 * k + 4)) & 0x03030303u) << 4);
    }
    const int ia = 2 * k + h;  // scale of run A within scales[8n ..]; run B's is ia + 4
    p.da = d * static_cast<float>(static_cast<int8_t>((sc[0] >> (8 * ia)) & 0xFFu));
    p.db = d * static_cast<float>(static_cast<int8_t>((sc[1] >> (8 * ia)) & 0xFFu));
  }
  __device__ __forceinline__ static float Dot(const Part& p, int sub, const XBlocks& x) {
    const int n = sub / 4, k = (sub / 2) % 2, h = sub % 2;
    const float4 ma = LoadMeta(x.m + 4 * n + k);
    const float4 mb = LoadMeta(x.m + 4 * n + k + 2);
    const int sa = Dot16(p.a, LoadX16(x.q + 128 * n + 32 * k + 16 * h));
    const int sb = Dot16(p.b, LoadX16(x.q + 128 * n + 32 * k + 64 + 16 * h));
    const float va = fmaf(ma.x, static_cast<float>(sa), -32.0f * HalfSum(ma, h));
    const float vb = fmaf(mb.x, static_cast<float>(sb), -32.0f * HalfSum(mb, h));
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
