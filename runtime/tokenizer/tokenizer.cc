#include "runtime/tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "kernels/base/status_macros.h"
#include "runtime/tokenizer/internal/bpe_encoder.h"
#include "runtime/tokenizer/internal/byte_level.h"
#include "runtime/tokenizer/internal/pre_tokenizer.h"
#include "runtime/tokenizer/internal/spm_encoder.h"
#include "runtime/tokenizer/internal/token_index.h"
#include "runtime/tokenizer/internal/utf8.h"

namespace hobbit::runtime {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Texts llama.cpp recognises as end of turn (first match wins for eot_id) and, with the rest,
// as end of generation.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>",      "<|im_end|>", "<|end|>", "<end_of_turn>",      "<|endoftext|>",
    "<|end_of_text|>", "<EOT>",      "_<EOT>",  "<end_of_utterance>",
};
constexpr std::string_view kOtherEndOfGenerationTexts[] = {"<|eom_id|>", "<|return|>", "<|call|>"};

// Text tokens are matched in; unknown tokens count as special, as in llama.cpp.
bool IsSpecialType(TokenType type) {
  return type == TokenType::kControl || type == TokenType::kUnknown ||
         type == TokenType::kUserDefined;
}

}  // namespace

Tokenizer::Tokenizer(TokenizerVocab vocab) : vocab_(std::move(vocab)) {}

Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(TokenizerVocab vocab) {
  HOBBIT_RETURN_IF_ERROR(ValidateTokenizerVocab(vocab));
  std::unique_ptr<Tokenizer> tok(new Tokenizer(std::move(vocab)));
  const TokenizerVocab& v = tok->vocab_;
  tok->index_ = std::make_unique<internal::TokenIndex>(v.tokens);
  tok->BuildSpecialTokens();
  tok->FindEndOfGeneration();
  if (v.model == "gpt2") {
    const internal::PreTokenizerConfig config = internal::ResolvePreTokenizer(v.pre);
    if (!config.recognized) {
      const std::string what =
          v.pre.empty() ? std::string("tokenizer.ggml.pre is missing")
                        : absl::StrCat("tokenizer.ggml.pre '", v.pre, "' is not supported");
      tok->warnings_.push_back(
          absl::StrCat(what, "; using the 'default' pre-tokenizer, tokenization may differ"));
    }
    tok->bpe_ = std::make_unique<internal::BpeEncoder>(v, *tok->index_, config);
    if (tok->bpe_->unusable_merges() > 0) {
      tok->warnings_.push_back(absl::StrCat("tokenizer.ggml.merges: ", tok->bpe_->unusable_merges(),
                                            " merges name texts that are not tokens; ignored"));
    }
  } else {
    tok->spm_ = std::make_unique<internal::SpmEncoder>(v, *tok->index_);
  }
  tok->FindMaxBytesPerToken();
  return tok;
}

void Tokenizer::FindMaxBytesPerToken() {
  // Every byte must come out as some token: through the unknown token, or a token for the byte
  // itself (SPM's <0xNN> byte fallback; byte-level BPE's code point for it).
  bool every_byte = vocab_.unk_id >= 0;
  for (int b = 0; b < 256 && !every_byte; ++b) {
    const std::string byte(1, static_cast<char>(b));
    const bool found = vocab_.model == "gpt2" ? FindToken(internal::ByteLevelEncode(byte)).has_value()
                                              : FindToken(absl::StrFormat("<0x%02X>", b)).has_value();
    if (!found) break;
    every_byte = b == 255;
  }
  if (!every_byte) return;
  // A token stands for at most as many input bytes as its vocabulary text or its decoded piece
  // has (SPM's "\xe2\x96\x81" and byte-level BPE's code points are longer than the byte they
  // stand for; a byte token is one byte; an unknown token one character of up to 4 bytes).
  int64_t most = 4;
  for (int32_t id = 0; id < vocab_size(); ++id) {
    most = std::max<int64_t>(most, std::max(vocab_.tokens[id].size(), TokenToPiece(id).size()));
  }
  max_bytes_per_token_ = most;
}

void Tokenizer::BuildSpecialTokens() {
  for (int32_t id = 0; id < vocab_size(); ++id) {
    if (IsSpecialType(token_type(id)) && !vocab_.tokens[id].empty()) {
      special_by_first_byte_[static_cast<uint8_t>(vocab_.tokens[id][0])].push_back(id);
    }
  }
  for (std::vector<int32_t>& ids : special_by_first_byte_) {
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
      return vocab_.tokens[a].size() > vocab_.tokens[b].size();
    });
  }
}

void Tokenizer::FindEndOfGeneration() {
  eot_id_ = vocab_.eot_id;
  for (std::string_view text : kEndOfTurnTexts) {
    const std::optional<int32_t> id = FindToken(text);
    if (!id.has_value()) continue;
    if (eot_id_ < 0) eot_id_ = *id;
    end_of_generation_.insert(*id);
  }
  for (std::string_view text : kOtherEndOfGenerationTexts) {
    if (const std::optional<int32_t> id = FindToken(text)) end_of_generation_.insert(*id);
  }
  for (int32_t id : {vocab_.eos_id, eot_id_, vocab_.eom_id}) {
    if (id >= 0) end_of_generation_.insert(id);
  }
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (!IsValidId(id)) return TokenType::kUndefined;
  if (vocab_.token_types.empty()) return TokenType::kNormal;
  return static_cast<TokenType>(vocab_.token_types[id]);
}

std::optional<int32_t> Tokenizer::FindToken(std::string_view text) const {
  const int32_t id = index_->Find(text);
  if (id < 0) return std::nullopt;
  return id;
}

std::vector<Tokenizer::Fragment> Tokenizer::SplitSpecial(std::string_view text,
                                                         bool parse_special) const {
  std::vector<Fragment> fragments;
  size_t plain_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    int32_t match = -1;
    for (int32_t id : special_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      if (!parse_special && token_type(id) != TokenType::kUserDefined) continue;
      if (text.substr(pos).starts_with(vocab_.tokens[id])) {
        match = id;  // the list is longest first
        break;
      }
    }
    if (match < 0) {
      ++pos;
      continue;
    }
    if (plain_start < pos) fragments.push_back({text.substr(plain_start, pos - plain_start)});
    fragments.push_back({vocab_.tokens[match], match});
    pos += vocab_.tokens[match].size();
    plain_start = pos;
  }
  if (plain_start < text.size()) fragments.push_back({text.substr(plain_start)});
  return fragments;
}

std::vector<Tokenizer::Fragment> Tokenizer::LimitFragmentSize(std::vector<Fragment> fragments) {
  std::vector<Fragment> out;
  for (const Fragment& f : fragments) {
    std::string_view rest = f.text;
    while (f.token < 0 && rest.size() > kMaxFragmentBytes) {
      // Back off to a character start; a character has at most three continuation bytes.
      size_t cut = kMaxFragmentBytes;
      while (cut > kMaxFragmentBytes - 3 && (static_cast<uint8_t>(rest[cut]) & 0xC0) == 0x80) {
        --cut;
      }
      out.push_back({rest.substr(0, cut)});
      rest.remove_prefix(cut);
    }
    out.push_back({f.token < 0 ? rest : f.text, f.token});
  }
  return out;
}

void Tokenizer::EncodeSpm(const std::vector<Fragment>& fragments, std::vector<int32_t>* out) const {
  // As llama.cpp: every text fragment at the start or right after a special token gets the
  // space prefix, like a fresh sentencepiece encode of that fragment.
  bool after_special = true;
  std::string escaped;
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out->push_back(f.token);
      after_special = true;
      continue;
    }
    escaped.clear();
    if (vocab_.add_space_prefix && after_special) escaped.append(kSpmSpace);
    for (char c : f.text) {
      if (c == ' ') {
        escaped.append(kSpmSpace);
      } else {
        escaped.push_back(c);
      }
    }
    spm_->Encode(escaped, out);
    after_special = false;
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos_id);
  const std::vector<Fragment> fragments = LimitFragmentSize(SplitSpecial(text, parse_special));
  if (spm_ != nullptr) {
    EncodeSpm(fragments, &out);
  } else {
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        out.push_back(f.token);
      } else {
        bpe_->Encode(f.text, &out);
      }
    }
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos_id);
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t id) const {
  switch (token_type(id)) {
    case TokenType::kNormal:
    case TokenType::kUndefined:
      if (!IsValidId(id)) return "";
      if (spm_ != nullptr) return absl::StrReplaceAll(vocab_.tokens[id], {{"\xE2\x96\x81", " "}});
      return internal::ByteLevelDecode(vocab_.tokens[id]);
    case TokenType::kByte: {
      // "<0xXX>"; anything else is returned as its text.
      const std::string& t = vocab_.tokens[id];
      unsigned value = 0;
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>' &&
          absl::SimpleHexAtoi(absl::string_view(t).substr(3, 2), &value)) {
        return std::string(1, static_cast<char>(value));
      }
      return t;
    }
    case TokenType::kUnknown:
    case TokenType::kControl:
    case TokenType::kUserDefined:
      return vocab_.tokens[id];
    case TokenType::kUnused:
      return "";
  }
  return "";
}

void Tokenizer::AppendDecodedPiece(int32_t id, bool skip_special, bool* strip_space,
                                   std::string* bytes) const {
  const TokenType type = token_type(id);
  if (type == TokenType::kControl) {  // BOS and the like leave the leading-space rule pending
    if (!skip_special) bytes->append(TokenToPiece(id));
    return;
  }
  const bool strip = *strip_space && vocab_.add_space_prefix;
  *strip_space = false;
  if (type == TokenType::kUnknown && skip_special) return;
  const std::string piece = TokenToPiece(id);
  bytes->append(piece, strip && piece.starts_with(' ') ? 1 : 0);
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  bool strip_space = true;
  for (int32_t id : ids) AppendDecodedPiece(id, skip_special, &strip_space, &bytes);
  std::string text;
  text.reserve(bytes.size());
  internal::AppendRepairedUtf8(bytes, /*final=*/true, &text);
  return text;
}

}  // namespace hobbit::runtime
