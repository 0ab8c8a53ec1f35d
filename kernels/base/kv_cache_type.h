// The element type of the paged KV cache: float32, or IEEE half (half the bytes, so twice the
// positions for kv.cache_bytes). Keys and values are written rounded to nearest even and read back
// exactly as float32; every sum stays float32. kv.type's setting `auto` (KvCacheSetting) picks
// half on the CUDA backend and float32 on the CPU (KvCacheTypeFor).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hobbit::kernels {

enum class KvCacheType : uint8_t { kF32, kF16 };

inline int64_t KvCacheTypeBytes(KvCacheType t) { return t == KvCacheType::kF16 ? 2 : 4; }

inline std::string_view KvCacheTypeName(KvCacheType t) { return t == KvCacheType::kF16 ? "f16" : "f32"; }

// kv.type: auto, or one type for every backend.
enum class KvCacheSetting : uint8_t { kAuto, kF16, kF32 };

// "auto", "f16" or "f32"; nullopt for anything else.
inline std::optional<KvCacheSetting> ParseKvCacheSetting(std::string_view s) {
  if (s == "auto") return KvCacheSetting::kAuto;
  if (s == "f16") return KvCacheSetting::kF16;
  if (s == "f32") return KvCacheSetting::kF32;
  return std::nullopt;
}

// The type a setting gives on the backend named `backend` ("cuda", "cpu"). auto: half on CUDA,
// where it costs ~1 % of decode speed at short contexts and nothing after 4,000 positions (H200)
// and the GPU's memory is what the expert cache competes for; float32 on the CPU, whose memory is
// rarely the limit, so its results stay those of a float32 cache.
inline KvCacheType KvCacheTypeFor(KvCacheSetting setting, std::string_view backend) {
  if (setting == KvCacheSetting::kF16) return KvCacheType::kF16;
  if (setting == KvCacheSetting::kF32) return KvCacheType::kF32;
  return backend == "cuda" ? KvCacheType::kF16 : KvCacheType::kF32;
}

}  // namespace hobbit::kernels
