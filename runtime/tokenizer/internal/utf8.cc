#include "runtime/tokenizer/internal/utf8.h"

namespace hobbit::runtime::internal {
namespace {

// What a lead byte announces: the sequence length (0 = cannot start a sequence) and the range
// the second byte must fall in, which is what excludes overlongs, surrogates and > U+10FFFF.
struct LeadByte {
  int length;
  uint8_t second_lo;
  uint8_t second_hi;
};

LeadByte ClassifyLead(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

enum class SequenceKind { kValid, kIllFormed, kTruncated };

struct Sequence {
  SequenceKind kind;
  int length;  // valid: the whole sequence; ill-formed/truncated: the maximal subpart
  uint32_t codepoint;
};

Sequence ScanSequence(std::string_view s, size_t pos) {
  const auto b = static_cast<uint8_t>(s[pos]);
  const LeadByte lead = ClassifyLead(b);
  if (lead.length == 0) return {SequenceKind::kIllFormed, 1, 0};
  if (lead.length == 1) return {SequenceKind::kValid, 1, b};
  uint32_t cp = b & (0x7Fu >> lead.length);
  for (int k = 1; k < lead.length; ++k) {
    if (pos + k >= s.size()) return {SequenceKind::kTruncated, k, 0};
    const auto c = static_cast<uint8_t>(s[pos + k]);
    const uint8_t lo = k == 1 ? lead.second_lo : 0x80;
    const uint8_t hi = k == 1 ? lead.second_hi : 0xBF;
    if (c < lo || c > hi) return {SequenceKind::kIllFormed, k, 0};
    cp = (cp << 6) | (c & 0x3Fu);
  }
  return {SequenceKind::kValid, lead.length, cp};
}

}  // namespace

Utf8Char DecodeUtf8Char(std::string_view text, size_t pos) {
  const Sequence seq = ScanSequence(text, pos);
  if (seq.kind == SequenceKind::kValid) return {seq.codepoint, seq.length, true};
  return {kReplacementChar, seq.length, false};
}

void AppendUtf8(uint32_t codepoint, std::string* out) {
  if (codepoint < 0x80) {
    out->push_back(static_cast<char>(codepoint));
  } else if (codepoint < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (codepoint >> 6)));
    out->push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else if (codepoint < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (codepoint >> 12)));
    out->push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (codepoint >> 18)));
    out->push_back(static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  }
}

size_t AppendRepairedUtf8(std::string_view bytes, bool final, std::string* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Sequence seq = ScanSequence(bytes, pos);
    if (seq.kind == SequenceKind::kTruncated && !final) break;
    if (seq.kind == SequenceKind::kValid) {
      out->append(bytes.substr(pos, seq.length));
    } else {
      AppendUtf8(kReplacementChar, out);
    }
    pos += seq.length;
  }
  return pos;
}

}  // namespace hobbit::runtime::internal
