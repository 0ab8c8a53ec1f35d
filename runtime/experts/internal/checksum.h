// Checksum64: a fast non-cryptographic 64-bit checksum (four independent multiply-rotate lanes,
// 32 bytes per round) for the low-precision expert cache file. It detects corruption and
// truncation; it is not a defence against deliberate tampering.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hobbit::runtime::internal {

uint64_t Checksum64(const void* data, size_t n);
inline uint64_t Checksum64(std::string_view s) { return Checksum64(s.data(), s.size()); }

}  // namespace hobbit::runtime::internal
