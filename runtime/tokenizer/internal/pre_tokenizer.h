// PreTokenizer: splits text into the pieces a byte-level BPE merges within, following the
// regex lists llama.cpp and Hugging Face tokenizers use for each `tokenizer.ggml.pre` value
// (formats.md §4). The regexes are implemented as hand-written scanners over code points, with
// the categories from the generated unicode_tables.cc, because std::regex has no \p{L}/\p{N}.
//
//   PreTokenizerConfig config = ResolvePreTokenizer("qwen2");
//   PreTokenizer pre(config.kind);
//   for (std::string_view piece : pre.Split("Hello world!")) ...   // "Hello", " world", "!"
#pragma once

#include <string_view>
#include <vector>

namespace hobbit::runtime::internal {

enum class PreTokenizerKind {
  // Four passes: [\p{P}\$\+<=>\^~\|]+, then the GPT-2 pattern, then \p{N}+, then [0-9]{3}.
  kDefault,
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // As kLlama3 with \p{N} (single digits) instead of \p{N}{1,3}.
  kQwen2,
};

// What a `tokenizer.ggml.pre` name implies, as llama.cpp interprets it.
struct PreTokenizerConfig {
  PreTokenizerKind kind = PreTokenizerKind::kDefault;
  bool ignore_merges = false;  // a piece that is itself a token is emitted without merging
  bool add_bos = false;        // default for tokenizer.ggml.add_bos_token
  bool recognized = false;     // false: unknown or empty name, treated as kDefault
};

PreTokenizerConfig ResolvePreTokenizer(std::string_view pre);

// Immutable; Split is thread-safe.
class PreTokenizer {
 public:
  explicit PreTokenizer(PreTokenizerKind kind) : kind_(kind) {}

  // Consecutive non-empty pieces that exactly cover `text` (views into it). Ill-formed UTF-8 is
  // kept byte for byte; each ill-formed subsequence scans as one non-letter, non-digit symbol.
  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  PreTokenizerKind kind_;
};

}  // namespace hobbit::runtime::internal
