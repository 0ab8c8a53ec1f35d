#include "kernels/base/ggml_type.h"

#include <string>

namespace hobbit::kernels {

std::optional<GgmlTypeTraits> GetGgmlTypeTraits(uint32_t type_id) {
  switch (static_cast<GgmlType>(type_id)) {
    case GgmlType::kF32: return GgmlTypeTraits{"F32", 1, 4, false};
    case GgmlType::kF16: return GgmlTypeTraits{"F16", 1, 2, false};
    case GgmlType::kBF16: return GgmlTypeTraits{"BF16", 1, 2, false};
    case GgmlType::kF64: return GgmlTypeTraits{"F64", 1, 8, false};
    case GgmlType::kI8: return GgmlTypeTraits{"I8", 1, 1, false};
    case GgmlType::kI16: return GgmlTypeTraits{"I16", 1, 2, false};
    case GgmlType::kI32: return GgmlTypeTraits{"I32", 1, 4, false};
    case GgmlType::kI64: return GgmlTypeTraits{"I64", 1, 8, false};
    case GgmlType::kQ4_0: return GgmlTypeTraits{"Q4_0", 32, 18, true};
    case GgmlType::kQ4_1: return GgmlTypeTraits{"Q4_1", 32, 20, true};
    case GgmlType::kQ5_0: return GgmlTypeTraits{"Q5_0", 32, 22, true};
    case GgmlType::kQ5_1: return GgmlTypeTraits{"Q5_1", 32, 24, true};
    case GgmlType::kQ8_0: return GgmlTypeTraits{"Q8_0", 32, 34, true};
    case GgmlType::kQ8_1: return GgmlTypeTraits{"Q8_1", 32, 36, true};
    case GgmlType::kQ2_K: return GgmlTypeTraits{"Q2_K", 256, 84, true};
    case GgmlType::kQ3_K: return GgmlTypeTraits{"Q3_K", 256, 110, true};
    case GgmlType::kQ4_K: return GgmlTypeTraits{"Q4_K", 256, 144, true};
    case GgmlType::kQ5_K: return GgmlTypeTraits{"Q5_K", 256, 176, true};
    case GgmlType::kQ6_K: return GgmlTypeTraits{"Q6_K", 256, 210, true};
    case GgmlType::kQ8_K: return GgmlTypeTraits{"Q8_K", 256, 292, true};
    // Types hobbit reads (so such files open and name the tensor it cannot compute) but does
    // not yet decode.
    case GgmlType::kIQ2_XXS: return GgmlTypeTraits{"IQ2_XXS", 256, 66, true};
    case GgmlType::kIQ2_XS: return GgmlTypeTraits{"IQ2_XS", 256, 74, true};
    case GgmlType::kIQ3_XXS: return GgmlTypeTraits{"IQ3_XXS", 256, 98, true};
    case GgmlType::kIQ1_S: return GgmlTypeTraits{"IQ1_S", 256, 50, true};
    case GgmlType::kIQ4_NL: return GgmlTypeTraits{"IQ4_NL", 32, 18, true};
    case GgmlType::kIQ3_S: return GgmlTypeTraits{"IQ3_S", 256, 110, true};
    case GgmlType::kIQ2_S: return GgmlTypeTraits{"IQ2_S", 256, 82, true};
    case GgmlType::kIQ4_XS: return GgmlTypeTraits{"IQ4_XS", 256, 136, true};
    case GgmlType::kIQ1_M: return GgmlTypeTraits{"IQ1_M", 256, 56, true};
    case GgmlType::kTQ1_0: return GgmlTypeTraits{"TQ1_0", 256, 54, true};
    case GgmlType::kTQ2_0: return GgmlTypeTraits{"TQ2_0", 256, 66, true};
    case GgmlType::kMXFP4: return GgmlTypeTraits{"MXFP4", 32, 17, true};
  }
  return std::nullopt;
}

std::string GgmlTypeName(uint32_t type_id) {
  auto traits = GetGgmlTypeTraits(type_id);
  if (traits) return std::string(traits->name);
  return "type#" + std::to_string(type_id);
}

std::optional<int64_t> GgmlRowBytes(uint32_t type_id, int64_t n) {
  auto traits = GetGgmlTypeTraits(type_id);
  if (!traits || n < 0 || n % traits->block_size != 0) return std::nullopt;
  return n / traits->block_size * traits->block_bytes;
}

}  // namespace hobbit::kernels
