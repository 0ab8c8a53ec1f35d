// The reference quantizers of ggml (quantize_row_*_ref) for the 32-element block types, plus
// F16/BF16 conversion. Built with -ffp-contract=off: bit-exactness with gguf-py depends on
// every multiply and add being rounded separately, in gguf-py's order.
#include "kernels/quant/quantize.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/base/half.h"
#include "kernels/base/status_macros.h"
#include "kernels/quant/internal/k_quantizers.h"
#include "kernels/quant/quant_types.h"

namespace hobbit::kernels {
namespace {

void StoreU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }

// min(hi, trunc(v)) for v >= 0, 0 otherwise: numpy's trunc().astype(uint8).clip(0, hi) and
// ggml's MIN(hi, (int8_t)v) on every value a finite input can produce, without UB on the rest.
uint8_t TruncClamp(float v, int hi) {
  if (!(v > 0.0f)) return 0;
  if (v >= static_cast<float>(hi)) return static_cast<uint8_t>(hi);
  return static_cast<uint8_t>(static_cast<int>(v));
}

// The value of largest magnitude (the first one on ties), with its sign.
float SignedAbsMax(const float* x, int count) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < count; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void QuantizeBlockQ8_0(const float* x, uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(b, F32ToF16(d));
  for (int j = 0; j < 32; ++j) {
    const float v = std::fmin(std::fmax(std::round(x[j] * id), -128.0f), 127.0f);
    b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(v));
  }
}

// Q4_0 (bits 4, offset 8) and Q5_0 (bits 5, offset 16): y = d * (q - offset), d = max / -offset.
template <int kBits>
void QuantizeBlockSymmetric(const float* x, uint8_t* b) {
  constexpr int kOffset = 1 << (kBits - 1);
  constexpr int kMaxQ = (1 << kBits) - 1;
  const float d = SignedAbsMax(x, 32) / -kOffset;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(b, F32ToF16(d));
  uint8_t q[32];
  for (int j = 0; j < 32; ++j)
    q[j] = TruncClamp(x[j] * id + (static_cast<float>(kOffset) + 0.5f), kMaxQ);
  uint8_t* qs = b + (kBits == 4 ? 2 : 6);
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
  if (kBits == 5) {
    uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
    std::memcpy(b + 2, &qh, sizeof qh);
  }
}

// Q4_1 (bits 4) and Q5_1 (bits 5): y = d * q + m, m = min, d = (max - min) / (2^bits - 1).
template <int kBits>
void QuantizeBlockAffine(const float* x, uint8_t* b) {
  constexpr int kMaxQ = (1 << kBits) - 1;
  float min = x[0];
  float max = x[0];
  for (int j = 1; j < 32; ++j) {
    min = std::fmin(min, x[j]);
    max = std::fmax(max, x[j]);
  }
  const float d = (max - min) / kMaxQ;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(b, F32ToF16(d));
  StoreU16(b + 2, F32ToF16(min));
  uint8_t q[32];
  for (int j = 0; j < 32; ++j) q[j] = TruncClamp((x[j] - min) * id + 0.5f, kMaxQ);
  uint8_t* qs = b + (kBits == 4 ? 4 : 8);
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
  if (kBits == 5) {
    uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
    std::memcpy(b + 4, &qh, sizeof qh);
  }
}

template <void (*kQuantizeBlock)(const float*, uint8_t*), int kBlockBytes>
void QuantizeBlocks32(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i) kQuantizeBlock(src + 32 * i, dst + kBlockBytes * i);
}

absl::Status CheckFinite(GgmlType type, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(src[i])) {
      return absl::InvalidArgumentError(absl::StrCat("QuantizeRow: src[", i, "] = ", src[i],
                                                     " is not finite; ", GgmlTypeName(type),
                                                     " blocks cannot encode it (n = ", n, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n) {
  namespace qi = quant_internal;
  HOBBIT_RETURN_IF_ERROR(CheckQuantRow("QuantizeRow", type, n));
  if (n > 0 && (src == nullptr || dst == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("QuantizeRow: null src or dst for ", GgmlTypeName(type), " row of n = ", n));
  }
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case GgmlType::kF32:
      if (n > 0) std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return absl::OkStatus();
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) StoreU16(out + 2 * i, F32ToF16(src[i]));
      return absl::OkStatus();
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) StoreU16(out + 2 * i, F32ToBf16(src[i]));
      return absl::OkStatus();
    default:
      break;
  }
  HOBBIT_RETURN_IF_ERROR(CheckFinite(type, src, n));
  switch (type) {
    case GgmlType::kQ8_0:
      QuantizeBlocks32<QuantizeBlockQ8_0, 34>(src, out, n);
      break;
    case GgmlType::kQ4_0:
      QuantizeBlocks32<QuantizeBlockSymmetric<4>, 18>(src, out, n);
      break;
    case GgmlType::kQ4_1:
      QuantizeBlocks32<QuantizeBlockAffine<4>, 20>(src, out, n);
      break;
    case GgmlType::kQ5_0:
      QuantizeBlocks32<QuantizeBlockSymmetric<5>, 22>(src, out, n);
      break;
    case GgmlType::kQ5_1:
      QuantizeBlocks32<QuantizeBlockAffine<5>, 24>(src, out, n);
      break;
    case GgmlType::kQ2_K:
      qi::QuantizeRowQ2_K(src, out, n);
      break;
    case GgmlType::kQ3_K:
      qi::QuantizeRowQ3_K(src, out, n);
      break;
    case GgmlType::kQ4_K:
      qi::QuantizeRowQ4_K(src, out, n);
      break;
    case GgmlType::kQ5_K:
      qi::QuantizeRowQ5_K(src, out, n);
      break;
    case GgmlType::kQ6_K:
      qi::QuantizeRowQ6_K(src, out, n);
      break;
    default:
      break;  // CheckQuantRow rejected every other type
  }
  return absl::OkStatus();
}

}  // namespace hobbit::kernels
