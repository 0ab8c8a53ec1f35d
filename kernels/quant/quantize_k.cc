// K-quant encoders: per sub-block scale (and min) from the sub-block's range, the sub-block scales
// coded against fp16 super-block scales, then every value rounded to the nearest level of its
// decoded (not ideal) sub-block scale, so the rounding sees exactly what the decoder will use.
// Simpler than ggml's iterative make_qkx2_quants / make_qx_quants search; see quantize.h.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/base/half.h"
#include "kernels/quant/internal/k_quantizers.h"

namespace hobbit::kernels::quant_internal {
namespace {

constexpr int kBlock = 256;

// round(v) (half to even) clamped to [lo, hi]; NaN (from 0/0 or inf/inf on extreme inputs)
// counts as 0. Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer in the low
// mantissa bits (ggml's nearest_int), much faster than a call to lrintf.
int RoundClamp(float v, int lo, int hi) {
  if (std::isnan(v)) v = 0.0f;
  v = std::clamp(v, static_cast<float>(lo), static_cast<float>(hi)) + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// Stores d as fp16 at p, saturating at the largest finite fp16 so a block never decodes to
// inf * 0 = NaN, and returns the stored value.
float StoreScale(uint8_t* p, float d) {
  uint16_t h = F32ToF16(d);
  if ((h & 0x7fffu) >= 0x7c00u) h = static_cast<uint16_t>((h & 0x8000u) | 0x7bffu);
  std::memcpy(p, &h, sizeof h);
  return F16ToF32(h);
}

// Sub-block j of `count` values for y = scale * q - min with q in [0, max_q], min >= 0.
struct AffineRange {
  float scale;
  float min;
};

// Squared error of y = scale * q - min against x, with q rounded and clamped to [0, max_q].
double AffineError(const float* x, int count, int max_q, AffineRange r) {
  const float inv_scale = r.scale > 0.0f ? 1.0f / r.scale : 0.0f;
  double err = 0.0;
  for (int i = 0; i < count; ++i) {
    const int q = RoundClamp((x[i] + r.min) * inv_scale, 0, max_q);
    const double e = static_cast<double>(r.scale) * q - r.min - x[i];
    err += e * e;
  }
  return err;
}

// (scale, min) of one sub-block: the min/max range, then ggml-style refinement (make_qkx2_quants,
// unweighted): for a few inverse scales around max_q / range, round to levels, refit by least
// squares, keep the pair with the least squared error. As in ggml, a candidate's error is that of
// the levels it was fitted to, from the sums in closed form (one pass per candidate; the
// encoder rounds again with the decoded scales at the end). The first version re-rounded every
// candidate (three passes): its rmse was 0.4 % (Q2_K) and 0.1 % (Q4_K, Q5_K) lower on normal and
// Student-t rows, at twice the time (85 vs 44 ns an element for Q2_K here; the int2 copies of a
// Mixtral layer took ~19 s on 16 cores).
AffineRange FitAffine(const float* x, int count, int max_q) {
  float lo = 0.0f;  // the offset is subtracted, so the represented minimum is at most 0
  float hi = x[0];
  double sum_x = 0.0, sum_x2 = 0.0;
  for (int i = 0; i < count; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_x += x[i];
    sum_x2 += static_cast<double>(x[i]) * x[i];
  }
  AffineRange best = {(hi - lo) / static_cast<float>(max_q), -lo};
  if (!(hi > lo) || !std::isfinite(hi - lo)) return best;
  double best_err = AffineError(x, count, max_q, best);
  const double n = count;
  for (int step = 0; step <= 20; ++step) {
    const float iscale =
        (static_cast<float>(max_q) - 1.0f + 0.1f * static_cast<float>(step)) / (hi - lo);
    int sum_q = 0, sum_q2 = 0;
    double sum_qx = 0.0;
    for (int i = 0; i < count; ++i) {
      const int q = RoundClamp(iscale * (x[i] - lo), 0, max_q);
      sum_q += q;
      sum_q2 += q * q;
      sum_qx += static_cast<double>(q) * x[i];
    }
    const double det = n * sum_q2 - static_cast<double>(sum_q) * sum_q;
    if (det <= 0.0) continue;
    double scale = (n * sum_qx - sum_q * sum_x) / det;
    double offset = (sum_q2 * sum_x - sum_q * sum_qx) / det;  // x ~ scale * q + offset
    if (offset > 0.0) {  // the format subtracts a non-negative min
      offset = 0.0;
      scale = sum_qx / sum_q2;
    }
    if (!(scale > 0.0)) continue;
    // sum (scale q + offset - x)^2 over these levels.
    const double err = scale * scale * sum_q2 + 2.0 * scale * offset * sum_q + n * offset * offset -
                       2.0 * (scale * sum_qx + offset * sum_x) + sum_x2;
    if (err < best_err) {
      best_err = err;
      best = {static_cast<float>(scale), static_cast<float>(-offset)};
    }
  }
  return best;
}

// Codes `count` sub-block ranges against fp16 super-scales d (for scales) and dmin (for mins),
// each sub-scale as an integer in [0, max_code]. Writes the codes and the decoded pairs.
void CodeAffineScales(const AffineRange* ranges, int count, int max_code, uint8_t* d_field,
                      uint8_t* dmin_field, int* sc, int* mn, AffineRange* decoded) {
  float max_scale = 0.0f;
  float max_min = 0.0f;
  for (int j = 0; j < count; ++j) {
    max_scale = std::max(max_scale, ranges[j].scale);
    max_min = std::max(max_min, ranges[j].min);
  }
  const float d = StoreScale(d_field, max_scale / static_cast<float>(max_code));
  const float dmin = StoreScale(dmin_field, max_min / static_cast<float>(max_code));
  for (int j = 0; j < count; ++j) {
    sc[j] = d > 0.0f ? RoundClamp(ranges[j].scale / d, 0, max_code) : 0;
    mn[j] = dmin > 0.0f ? RoundClamp(ranges[j].min / dmin, 0, max_code) : 0;
    decoded[j] = {d * static_cast<float>(sc[j]), dmin * static_cast<float>(mn[j])};
  }
}

void QuantizeAffine(const float* x, int count, AffineRange r, int max_q, uint8_t* q) {
  for (int i = 0; i < count; ++i)
    q[i] = r.scale > 0.0f ? RoundClamp((x[i] + r.min) / r.scale, 0, max_q) : 0;
}

// The value of largest magnitude (the first on ties), with its sign.
float SignedAbsMax(const float* x, int count) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int i = 0; i < count; ++i) {
    if (amax < std::fabs(x[i])) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// Symmetric fit of y = scale * q, q in [-neg_q, neg_q - 1] (the value of largest magnitude maps
// to -neg_q, using the extra negative level, as ggml does). Refined like ggml's make_qx_quants
// (unweighted): try inverse scales around -neg_q / max, refit the scale by least squares for the
// rounded levels, keep the one with the least squared error.
float FitSymmetric(const float* x, int count, int neg_q) {
  const float max = SignedAbsMax(x, count);
  if (max == 0.0f) return 0.0f;
  float best = max / static_cast<float>(-neg_q);
  double best_score = -1.0;  // sum_qx^2 / sum_q2: maximizing it minimizes the squared error
  for (int step = -9; step <= 9; ++step) {
    const float iscale = -(static_cast<float>(neg_q) + 0.1f * static_cast<float>(step)) / max;
    double sum_qx = 0.0, sum_q2 = 0.0;
    for (int i = 0; i < count; ++i) {
      const int q = RoundClamp(iscale * x[i], -neg_q, neg_q - 1);
      sum_qx += static_cast<double>(q) * x[i];
      sum_q2 += static_cast<double>(q) * q;
    }
    if (sum_q2 > 0.0 && sum_qx * sum_qx / sum_q2 > best_score) {
      best_score = sum_qx * sum_qx / sum_q2;
      best = static_cast<float>(sum_qx / sum_q2);
    }
  }
  return best;
}

// Codes 16 signed sub-scales as integers in [-neg_code, neg_code - 1] against one fp16 scale d;
// returns the decoded sub-scales in `decoded`.
void CodeSymmetricScales(const float* scales, int neg_code, uint8_t* d_field, int* sc,
                         float* decoded) {
  const float big = FitSymmetric(scales, 16, neg_code);
  const float d = StoreScale(d_field, big);
  for (int j = 0; j < 16; ++j) {
    sc[j] = d != 0.0f ? RoundClamp(scales[j] / d, -neg_code, neg_code - 1) : 0;
    decoded[j] = d * static_cast<float>(sc[j]);
  }
}

void QuantizeSymmetric(const float* x, int count, float scale, int neg_q, int* q) {
  for (int i = 0; i < count; ++i)
    q[i] = scale != 0.0f ? RoundClamp(x[i] / scale, -neg_q, neg_q - 1) : 0;
}

// Q2_K: scales[16] @0, qs[64] @16, d @80, dmin @82; 16 sub-blocks of 16, 4-bit scale/min codes.
void QuantizeBlockQ2_K(const float* x, uint8_t* b) {
  AffineRange ranges[16], decoded[16];
  int sc[16], mn[16];
  for (int j = 0; j < 16; ++j) ranges[j] = FitAffine(x + 16 * j, 16, 3);
  CodeAffineScales(ranges, 16, 15, b + 80, b + 82, sc, mn, decoded);
  uint8_t q[kBlock];
  for (int j = 0; j < 16; ++j) {
    b[j] = static_cast<uint8_t>(sc[j] | mn[j] << 4);
    QuantizeAffine(x + 16 * j, 16, decoded[j], 3, q + 16 * j);
  }
  uint8_t* qs = b + 16;
  std::memset(qs, 0, 64);
  for (int e = 0; e < kBlock; ++e) {  // e = 128 n + 32 j + l
    qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q[e] << (2 * ((e % 128) / 32)));
  }
}

// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108; 16 sub-blocks of 16, q in [-4, 3],
// 6-bit sub-scale codes in [-32, 31].
void QuantizeBlockQ3_K(const float* x, uint8_t* b) {
  float scales[16], decoded[16];
  int sc[16], q[kBlock];
  for (int j = 0; j < 16; ++j) scales[j] = FitSymmetric(x + 16 * j, 16, 4);
  CodeSymmetricScales(scales, 32, b + 108, sc, decoded);
  for (int j = 0; j < 16; ++j) QuantizeSymmetric(x + 16 * j, 16, decoded[j], 4, q + 16 * j);
  std::memset(b, 0, 108);
  uint8_t* hmask = b;
  uint8_t* qs = b + 32;
  uint8_t* packed = b + 96;
  for (int s = 0; s < 16; ++s) {
    const int v = sc[s] + 32;
    packed[s % 8] |= static_cast<uint8_t>((v & 0xF) << (s < 8 ? 0 : 4));
    packed[8 + s % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (s / 4)));
  }
  for (int e = 0; e < kBlock; ++e) {  // e = 128 n + 32 j + l
    const int u = q[e] + 4;
    const int n = e / 128, j = (e % 128) / 32, l = e % 32;
    qs[32 * n + l] |= static_cast<uint8_t>((u & 3) << (2 * j));
    hmask[l] |= static_cast<uint8_t>((u >> 2) << (4 * n + j));
  }
}

// Q4_K / Q5_K: d @0, dmin @2, scales[12] @4, then (Q5_K) qh[32] and qs[128]; 8 sub-blocks of 32.
template <int kBits>
void QuantizeBlockQxK(const float* x, uint8_t* b) {
  constexpr int kMaxQ = (1 << kBits) - 1;
  AffineRange ranges[8], decoded[8];
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) ranges[j] = FitAffine(x + 32 * j, 32, kMaxQ);
  CodeAffineScales(ranges, 8, 63, b, b + 2, sc, mn, decoded);
  uint8_t* packed = b + 4;
  for (int j = 0; j < 4; ++j) {
    packed[j] = static_cast<uint8_t>(sc[j] | (sc[j + 4] >> 4) << 6);
    packed[j + 4] = static_cast<uint8_t>(mn[j] | (mn[j + 4] >> 4) << 6);
    packed[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | (mn[j + 4] & 0xF) << 4);
  }
  uint8_t q[kBlock];
  for (int j = 0; j < 8; ++j) QuantizeAffine(x + 32 * j, 32, decoded[j], kMaxQ, q + 32 * j);
  uint8_t* qh = b + 16;
  uint8_t* qs = b + (kBits == 5 ? 48 : 16);
  if (kBits == 5) std::memset(qh, 0, 32);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t lo = q[64 * c + l];
      const uint8_t hi = q[64 * c + 32 + l];
      qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | (hi & 0xF) << 4);
      if (kBits == 5)
        qh[l] |= static_cast<uint8_t>((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
    }
  }
}

// Q6_K: ql[128] @0, qh[64] @128, scales:int8[16] @192, d @208; q in [-32, 31], int8 sub-scales.
void QuantizeBlockQ6_K(const float* x, uint8_t* b) {
  float scales[16], decoded[16];
  int sc[16], q[kBlock];
  for (int j = 0; j < 16; ++j) scales[j] = FitSymmetric(x + 16 * j, 16, 32);
  CodeSymmetricScales(scales, 128, b + 208, sc, decoded);
  for (int j = 0; j < 16; ++j) {
    QuantizeSymmetric(x + 16 * j, 16, decoded[j], 32, q + 16 * j);
    b[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(sc[j]));
  }
  std::memset(b, 0, 192);
  for (int e = 0; e < kBlock; ++e) {  // e = 128 n + 32 k + l
    const int u = q[e] + 32;
    const int n = e / 128, k = (e % 128) / 32, l = e % 32;
    b[64 * n + 32 * (k % 2) + l] |= static_cast<uint8_t>((u & 0xF) << (4 * (k / 2)));
    b[128 + 32 * n + l] |= static_cast<uint8_t>((u >> 4) << (2 * k));
  }
}

template <void (*kQuantizeBlock)(const float*, uint8_t*), int kBlockBytes>
void QuantizeBlocks(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n / kBlock; ++i) kQuantizeBlock(src + kBlock * i, dst + kBlockBytes * i);
}

}  // namespace

void QuantizeRowQ2_K(const float* src, uint8_t* dst, int64_t n) {
  QuantizeBlocks<QuantizeBlockQ2_K, 84>(src, dst, n);
}
void QuantizeRowQ3_K(const float* src, uint8_t* dst, int64_t n) {
  QuantizeBlocks<QuantizeBlockQ3_K, 110>(src, dst, n);
}
void QuantizeRowQ4_K(const float* src, uint8_t* dst, int64_t n) {
  QuantizeBlocks<QuantizeBlockQxK<4>, 144>(src, dst, n);
}
void QuantizeRowQ5_K(const float* src, uint8_t* dst, int64_t n) {
  QuantizeBlocks<QuantizeBlockQxK<5>, 176>(src, dst, n);
}
void QuantizeRowQ6_K(const float* src, uint8_t* dst, int64_t n) {
  QuantizeBlocks<QuantizeBlockQ6_K, 210>(src, dst, n);
}

}  // namespace hobbit::kernels::quant_internal
