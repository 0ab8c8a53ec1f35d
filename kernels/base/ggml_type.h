// Tensor element types as GGUF stores them (ggml_type ids), with their block geometry.
//
// Quantized types are blocked along the row (ne[0]) only: a row of n elements is n / BlockSize()
// blocks of BlockBytes() bytes each. Ids are those of ggml (see docs: formats.md §1.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hobbit::kernels {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

// Geometry of one type: elements per block and bytes per block.
struct GgmlTypeTraits {
  std::string_view name;
  int64_t block_size;   // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
  bool quantized;
};

// The traits of a known type id, or nullopt for an id hobbit does not know (or ggml removed).
std::optional<GgmlTypeTraits> GetGgmlTypeTraits(uint32_t type_id);

// Name of a type id for messages ("Q4_K", or "type#99" for an unknown id).
std::string GgmlTypeName(uint32_t type_id);

inline std::string GgmlTypeName(GgmlType type) { return GgmlTypeName(static_cast<uint32_t>(type)); }

// Bytes of one row of n elements; nullopt if the type is unknown or n is not a multiple of
// the block size.
std::optional<int64_t> GgmlRowBytes(uint32_t type_id, int64_t n);

}  // namespace hobbit::kernels
