// PrefillPrecision: the arithmetic of products of more than 8 tokens (prefill) on the CUDA
// backend, where weights are decoded in tiles and multiplied with cuBLAS.
//
//   kF16   weights decoded to FP16, activations to FP16 scaled per token by a power of two (so
//          no value overflows and every token keeps FP16's 11-bit significand), FP32 sums, on
//          the FP16 tensor cores. Half the decode traffic of FP32 tiles.
//   kTf32  weights decoded to FP32, products on the tensor cores in TF32 (10-bit mantissas).
//   kF32   weights decoded to FP32, FP32 products on the CUDA cores: the CPU backend's results
//          to rounding.
//
// Under kF16, BF16 and F32 weights take the TF32 products (FP16 cannot hold every BF16 value).
#pragma once

#include <optional>
#include <string_view>

namespace hobbit::runtime {

enum class PrefillPrecision { kF16, kTf32, kF32 };

inline std::optional<PrefillPrecision> ParsePrefillPrecision(std::string_view name) {
  if (name == "f16") return PrefillPrecision::kF16;
  if (name == "tf32") return PrefillPrecision::kTf32;
  if (name == "f32") return PrefillPrecision::kF32;
  return std::nullopt;
}

inline std::string_view PrefillPrecisionName(PrefillPrecision p) {
  switch (p) {
    case PrefillPrecision::kF16:
      return "f16";
    case PrefillPrecision::kTf32:
      return "tf32";
    case PrefillPrecision::kF32:
      return "f32";
  }
  return "f32";
}

}  // namespace hobbit::runtime
