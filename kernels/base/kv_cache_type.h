// The element type of the paged KV cache: float32, or IEEE half (the default where the engine
// allocates one: half the bytes, so twice the positions for kv.cache_bytes, and half the bytes
// decode attention reads at long contexts). Keys and values are written rounded to nearest even
// and read back exactly as float32; every sum stays float32.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hobbit::kernels {

enum class KvCacheType : uint8_t { kF32, kF16 };

inline int64_t KvCacheTypeBytes(KvCacheType t) { return t == KvCacheType::kF16 ? 2 : 4; }

inline std::string_view KvCacheTypeName(KvCacheType t) { return t == KvCacheType::kF16 ? "f16" : "f32"; }

// "f16" or "f32"; nullopt for anything else.
inline std::optional<KvCacheType> ParseKvCacheType(std::string_view s) {
  if (s == "f16") return KvCacheType::kF16;
  if (s == "f32") return KvCacheType::kF32;
  return std::nullopt;
}

}  // namespace hobbit::kernels
