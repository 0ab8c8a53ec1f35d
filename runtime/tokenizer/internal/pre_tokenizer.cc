#include "runtime/tokenizer/internal/pre_tokenizer.h"

#include <cstddef>
#include <cstdint>

#include "runtime/tokenizer/internal/unicode_tables.h"
#include "runtime/tokenizer/internal/utf8.h"

namespace hobbit::runtime::internal {
namespace {

// The text as code points with their categories and byte offsets. Each scanner below matches
// one regex at a code point index against the range [i, end), the end acting as end of text (as
// for a regex applied to one piece of an earlier pass).
class CodepointText {
 public:
  explicit CodepointText(std::string_view text) : text_(text) {
    for (size_t pos = 0; pos < text.size();) {
      const Utf8Char c = DecodeUtf8Char(text, pos);
      codepoints_.push_back(c.codepoint);
      // An ill-formed subsequence is neither letter, digit nor space: it scans like punctuation.
      flags_.push_back(c.valid ? CodepointFlags(c.codepoint) : 0);
      offsets_.push_back(pos);
      pos += c.length;
    }
    offsets_.push_back(text.size());
  }

  size_t size() const { return codepoints_.size(); }
  uint32_t cp(size_t i) const { return codepoints_[i]; }
  bool IsLetter(size_t i) const { return (flags_[i] & kLetter) != 0; }
  bool IsNumber(size_t i) const { return (flags_[i] & kNumber) != 0; }
  bool IsSpace(size_t i) const { return (flags_[i] & kWhitespace) != 0; }
  // [^\s\p{L}\p{N}]
  bool IsOther(size_t i) const { return (flags_[i] & (kLetter | kNumber | kWhitespace)) == 0; }
  bool IsNewline(size_t i) const { return cp(i) == '\r' || cp(i) == '\n'; }
  // [\p{P}\$\+<=>\^~\|] of the default pattern's first pass.
  bool IsDefaultPunct(size_t i) const {
    const uint32_t c = cp(i);
    return (flags_[i] & kPunctuation) != 0 || c == '$' || c == '+' || c == '<' || c == '=' ||
           c == '>' || c == '^' || c == '~' || c == '|';
  }
  bool IsAsciiDigit(size_t i) const { return cp(i) >= '0' && cp(i) <= '9'; }

  std::string_view Slice(size_t begin, size_t end) const {
    return text_.substr(offsets_[begin], offsets_[end] - offsets_[begin]);
  }

  // End of the run starting at i of code points satisfying `pred`.
  template <typename Pred>
  size_t RunEnd(size_t i, size_t end, Pred pred) const {
    while (i < end && pred(i)) ++i;
    return i;
  }

 private:
  std::string_view text_;
  std::vector<uint32_t> codepoints_;
  std::vector<uint8_t> flags_;
  std::vector<size_t> offsets_;  // size() + 1 entries
};

// A half-open range of code point indices.
struct Span {
  size_t begin;
  size_t end;
};

// 's 't 're 've 'm 'll 'd at i; `fold_case` adds what (?i:...) accepts: upper case, and U+017F
// (long s), whose simple case folding is 's'. Returns the match end or i.
size_t MatchContraction(const CodepointText& t, size_t i, size_t end, bool fold_case) {
  if (t.cp(i) != '\'' || i + 1 >= end) return i;
  auto fold = [&](uint32_t c) -> uint32_t {
    if (!fold_case) return c;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 'a';
    if (c == 0x17F) return 's';
    return c;
  };
  const uint32_t c1 = fold(t.cp(i + 1));
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
  if (i + 2 >= end) return i;
  const uint32_t c2 = fold(t.cp(i + 2));
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
    return i + 3;
  }
  return i;
}

// \s+(?!\S)|\s+ at a whitespace code point i: the run minus its last character when a
// non-space follows (that character then prefixes the next piece), at least one character.
size_t MatchTrailingSpace(const CodepointText& t, size_t i, size_t end) {
  const size_t run = t.RunEnd(i, end, [&](size_t k) { return t.IsSpace(k); });
  if (run == end) return run;
  return run - i >= 2 ? run - 1 : i + 1;
}

// The GPT-2 pattern; matches at every position.
size_t MatchGpt2(const CodepointText& t, size_t i, size_t end) {
  if (size_t m = MatchContraction(t, i, end, /*fold_case=*/false); m > i) return m;
  const size_t j = t.cp(i) == ' ' ? i + 1 : i;
  if (j < end) {
    if (t.IsLetter(j)) return t.RunEnd(j, end, [&](size_t k) { return t.IsLetter(k); });
    if (t.IsNumber(j)) return t.RunEnd(j, end, [&](size_t k) { return t.IsNumber(k); });
    if (t.IsOther(j)) return t.RunEnd(j, end, [&](size_t k) { return t.IsOther(k); });
  }
  return MatchTrailingSpace(t, i, end);
}

// The Llama-3 / Qwen2 pattern (they differ only in the digit group length); matches at every
// position.
size_t MatchLlama3(const CodepointText& t, size_t i, size_t end, size_t max_digits) {
  if (size_t m = MatchContraction(t, i, end, /*fold_case=*/true); m > i) return m;
  auto letters = [&](size_t k) { return t.IsLetter(k); };
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (t.IsLetter(i)) return t.RunEnd(i, end, letters);
  if (!t.IsNewline(i) && !t.IsNumber(i) && i + 1 < end && t.IsLetter(i + 1)) {
    return t.RunEnd(i + 1, end, letters);
  }
  // \p{N}{1,3} or \p{N}
  if (t.IsNumber(i)) {
    const size_t run = t.RunEnd(i, end, [&](size_t k) { return t.IsNumber(k); });
    return run - i > max_digits ? i + max_digits : run;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t j = t.cp(i) == ' ' ? i + 1 : i;
  if (j < end && t.IsOther(j)) {
    const size_t others = t.RunEnd(j, end, [&](size_t k) { return t.IsOther(k); });
    return t.RunEnd(others, end, [&](size_t k) { return t.IsNewline(k); });
  }
  // \s*[\r\n]+ : through the last newline of the whitespace run, if it has one.
  const size_t run = t.RunEnd(i, end, [&](size_t k) { return t.IsSpace(k); });
  for (size_t k = run; k > i; --k) {
    if (t.IsNewline(k - 1)) return k;
  }
  return MatchTrailingSpace(t, i, end);
}

// Splits `span` at the matches of `match` (a function (i, end) -> match end, or i when nothing
// matches at i), keeping both the matches and the text between them, like a Hugging Face
// Split pre-tokenizer with behavior "Isolated".
template <typename Match>
void SplitIsolated(const CodepointText& t, Span span, Match match, std::vector<Span>* out) {
  size_t gap = span.begin;
  size_t i = span.begin;
  while (i < span.end) {
    const size_t m = match(t, i, span.end);
    if (m == i) {
      ++i;
      continue;
    }
    if (gap < i) out->push_back({gap, i});
    out->push_back({i, m});
    i = gap = m;
  }
  if (gap < span.end) out->push_back({gap, span.end});
}

// Applies one more pass to every span of `spans`.
template <typename Match>
std::vector<Span> SplitEach(const CodepointText& t, const std::vector<Span>& spans, Match match) {
  std::vector<Span> out;
  out.reserve(spans.size());
  for (const Span& s : spans) SplitIsolated(t, s, match, &out);
  return out;
}

size_t MatchDefaultPunct(const CodepointText& t, size_t i, size_t end) {
  return t.RunEnd(i, end, [&](size_t k) { return t.IsDefaultPunct(k); });
}

size_t MatchNumbers(const CodepointText& t, size_t i, size_t end) {
  return t.RunEnd(i, end, [&](size_t k) { return t.IsNumber(k); });
}

size_t MatchThreeAsciiDigits(const CodepointText& t, size_t i, size_t end) {
  if (i + 3 <= end && t.IsAsciiDigit(i) && t.IsAsciiDigit(i + 1) && t.IsAsciiDigit(i + 2)) {
    return i + 3;
  }
  return i;
}

}  // namespace

PreTokenizerConfig ResolvePreTokenizer(std::string_view pre) {
  PreTokenizerConfig config;
  config.recognized = true;
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
      pre == "falcon-h1" || pre == "pixtral" || pre == "midm-2.0" || pre == "lfm2" ||
      pre == "jina-v5-nano") {
    config.kind = PreTokenizerKind::kLlama3;
    config.ignore_merges = true;
    config.add_bos = true;
  } else if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "kormo" || pre == "megrez") {
    config.kind = PreTokenizerKind::kQwen2;
  } else if (pre == "gpt-2" || pre == "phi-2" || pre == "olmo" || pre == "mpt") {
    config.kind = PreTokenizerKind::kGpt2;
  } else {
    config.kind = PreTokenizerKind::kDefault;
    config.recognized = pre == "default";
  }
  return config;
}

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  const CodepointText t(text);
  std::vector<Span> spans = {{0, t.size()}};
  if (t.size() == 0) spans.clear();
  switch (kind_) {
    case PreTokenizerKind::kGpt2:
      spans = SplitEach(t, spans, MatchGpt2);
      break;
    case PreTokenizerKind::kLlama3:
      spans = SplitEach(t, spans, [](const CodepointText& c, size_t i, size_t end) {
        return MatchLlama3(c, i, end, 3);
      });
      break;
    case PreTokenizerKind::kQwen2:
      spans = SplitEach(t, spans, [](const CodepointText& c, size_t i, size_t end) {
        return MatchLlama3(c, i, end, 1);
      });
      break;
    case PreTokenizerKind::kDefault:
      spans = SplitEach(t, spans, MatchDefaultPunct);
      spans = SplitEach(t, spans, MatchGpt2);
      spans = SplitEach(t, spans, MatchNumbers);
      spans = SplitEach(t, spans, MatchThreeAsciiDigits);
      break;
  }
  std::vector<std::string_view> pieces;
  pieces.reserve(spans.size());
  for (const Span& s : spans) pieces.push_back(t.Slice(s.begin, s.end));
  return pieces;
}

}  // namespace hobbit::runtime::internal
