// UTF-8 encoding and decoding for the tokenizers, with a strict decoder (no overlongs, no
// surrogates, nothing above U+10FFFF) and a lossy repair that replaces ill-formed input by
// U+FFFD one "maximal subpart" at a time, as Python's errors="replace" and Rust's
// String::from_utf8_lossy do.
//
//   Utf8Char c = DecodeUtf8Char(text, pos);   // c.length >= 1 even for a bad byte
//   size_t used = AppendRepairedUtf8(bytes, /*final=*/false, &out);  // holds back a partial char
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hobbit::runtime::internal {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

struct Utf8Char {
  uint32_t codepoint = 0;  // kReplacementChar when !valid
  int length = 1;          // bytes consumed; 1 for a byte that starts no valid sequence
  bool valid = false;
};

// Decodes the character starting at text[pos]. REQUIRES: pos < text.size().
Utf8Char DecodeUtf8Char(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of `codepoint` (REQUIRES: <= U+10FFFF).
void AppendUtf8(uint32_t codepoint, std::string* out);

// Appends `bytes` to `out` with every ill-formed subsequence replaced by U+FFFD. When `final` is
// false, an incomplete but so far well-formed sequence at the end is left unconsumed. Returns
// the number of bytes consumed. Applying it to a stream chunk by chunk (carrying the
// unconsumed tail forward) produces exactly what one call on the whole stream produces.
size_t AppendRepairedUtf8(std::string_view bytes, bool final, std::string* out);

}  // namespace hobbit::runtime::internal
