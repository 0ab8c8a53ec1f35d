#include "runtime/tokenizer/internal/byte_level.h"

#include <array>

#include "runtime/tokenizer/internal/utf8.h"

namespace hobbit::runtime::internal {
namespace {

// Bytes that are printable Latin-1 map to themselves; the remaining bytes, in increasing order,
// take the code points 256, 257, ...
bool MapsToItself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteLevelTables {
  std::array<uint32_t, 256> to_codepoint;
  std::array<int16_t, 512> to_byte;  // every mapped code point is below 256 + 68 < 512
};

const ByteLevelTables& Tables() {
  static const ByteLevelTables tables = [] {
    ByteLevelTables t;
    t.to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      t.to_codepoint[b] = MapsToItself(b) ? static_cast<uint32_t>(b) : next++;
      t.to_byte[t.to_codepoint[b]] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

uint32_t ByteLevelCodepoint(uint8_t byte) { return Tables().to_codepoint[byte]; }

int ByteLevelDecodeCodepoint(uint32_t codepoint) {
  return codepoint < Tables().to_byte.size() ? Tables().to_byte[codepoint] : -1;
}

std::string ByteLevelEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteLevelCodepoint(static_cast<uint8_t>(c)), &out);
  return out;
}

std::string ByteLevelDecode(std::string_view token_text) {
  std::string out;
  out.reserve(token_text.size());
  for (size_t pos = 0; pos < token_text.size();) {
    const Utf8Char c = DecodeUtf8Char(token_text, pos);
    const int byte = c.valid ? ByteLevelDecodeCodepoint(c.codepoint) : -1;
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(token_text.substr(pos, c.length));
    }
    pos += c.length;
  }
  return out;
}

}  // namespace hobbit::runtime::internal
