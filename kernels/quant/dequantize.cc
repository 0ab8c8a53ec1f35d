#include "kernels/quant/dequantize.h"

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "kernels/quant/internal/block_decoders.h"
#include "kernels/quant/internal/k_block_decoders.h"
#include "kernels/quant/quant_types.h"

namespace hobbit::kernels {

namespace qi = quant_internal;

absl::Status DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  HOBBIT_RETURN_IF_ERROR(CheckQuantRow("DequantizeRow", type, n));
  if (n > 0 && (src == nullptr || dst == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DequantizeRow: null src or dst for ", GgmlTypeName(type), " row of n = ", n));
  }
  const auto* bytes = static_cast<const uint8_t*>(src);
  switch (type) {
    case GgmlType::kF32:
      qi::F32Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kF16:
      qi::F16Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kBF16:
      qi::Bf16Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ8_0:
      qi::Q8_0Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ4_0:
      qi::Q4_0Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ4_1:
      qi::Q4_1Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ5_0:
      qi::Q5_0Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ5_1:
      qi::Q5_1Decoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ2_K:
      qi::Q2_KDecoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ3_K:
      qi::Q3_KDecoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ4_K:
      qi::Q4_KDecoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ5_K:
      qi::Q5_KDecoder::Decode(bytes, dst, n);
      break;
    case GgmlType::kQ6_K:
      qi::Q6_KDecoder::Decode(bytes, dst, n);
      break;
    default:
      break;  // CheckQuantRow rejected every other type
  }
  return absl::OkStatus();
}

}  // namespace hobbit::kernels
