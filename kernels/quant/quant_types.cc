#include "kernels/quant/quant_types.h"

#include "absl/strings/str_cat.h"

namespace hobbit::kernels {

bool QuantTypeSupported(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

absl::Status CheckQuantRow(const char* op, GgmlType type, int64_t n) {
  if (!QuantTypeSupported(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": tensor type ", GgmlTypeName(type),
                     " is not supported by the CPU quant kernels (n = ", n, ")"));
  }
  const int64_t block = GetGgmlTypeTraits(static_cast<uint32_t>(type))->block_size;
  if (n < 0 || n % block != 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": n = ", n,
                                                   " is not a non-negative multiple of the ",
                                                   GgmlTypeName(type), " block size ", block));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::kernels
