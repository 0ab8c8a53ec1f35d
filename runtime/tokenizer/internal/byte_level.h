// The GPT-2 byte-to-unicode mapping of byte-level BPE vocabularies: every byte is stored in token
// texts as one printable code point (printable Latin-1 bytes as themselves, the other 68 bytes
// as U+0100 upwards, so a space is "Ġ" U+0120 and a newline "Ċ" U+010A).
//
//   std::string text = ByteLevelEncode(" hi");   // "Ġhi"
//   int b = ByteLevelDecodeCodepoint(0x120);     // 0x20
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hobbit::runtime::internal {

// The code point that stands for `byte`.
uint32_t ByteLevelCodepoint(uint8_t byte);

// The byte `codepoint` stands for, or -1 if it stands for none.
int ByteLevelDecodeCodepoint(uint32_t codepoint);

// `bytes` with every byte replaced by its code point, as UTF-8.
std::string ByteLevelEncode(std::string_view bytes);

// The raw bytes a byte-level token text stands for. Code points outside the mapping (which a
// well-formed vocabulary does not contain) are kept as their own UTF-8.
std::string ByteLevelDecode(std::string_view token_text);

}  // namespace hobbit::runtime::internal
