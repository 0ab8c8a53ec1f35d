// Tokenizer: text <-> token ids for the tokenizers GGUF models carry: SentencePiece-style BPE
// ("llama": Llama, Mistral, Mixtral) and byte-level BPE ("gpt2": Qwen2/3, Llama 3, OLMoE, GPT-2)
// with the pre-tokenizers gpt-2/olmo, llama-bpe, qwen2 and default.
//
//   HOBBIT_ASSIGN_OR_RETURN(TokenizerVocab vocab, LoadTokenizerVocab(*gguf));
//   HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Create(std::move(vocab)));
//   std::vector<int32_t> ids = tok->Encode(prompt, /*add_special=*/true, /*parse_special=*/true);
//   std::string text = tok->Decode(ids, /*skip_special=*/true);
//
// Encoding follows Hugging Face tokenizers (BPE) and sentencepiece (SPM) token for token; see
// tests/fixtures/tokenizer/make_tokenizer_fixtures.py for the reference data. Streaming output
// during generation goes through StreamingDetokenizer.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer_vocab.h"

namespace hobbit::runtime {

namespace internal {
class BpeEncoder;
class SpmEncoder;
class TokenIndex;
}  // namespace internal

// Immutable after Create; every method is const and safe to call from any number of threads.
// Owns its vocabulary.
class Tokenizer {
 public:
  // Validates `vocab` (errors name the tokenizer.ggml key at fault) and builds the lookup
  // tables. An unknown or missing BPE pre-tokenizer is treated as "default" and reported in
  // warnings().
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(TokenizerVocab vocab);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // Token ids of `text` (any bytes; ill-formed UTF-8 is encoded byte for byte). add_special
  // adds BOS/EOS as the vocabulary's add_bos/add_eos say. User-defined tokens are always
  // matched in the text; control tokens (<|im_start|>, </s>) only when parse_special, otherwise
  // their text is encoded like any other text. Matching is leftmost-longest. (Plain text runs
  // over 256 MiB are cut into windows encoded independently.)
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // The raw bytes token `id` stands for (possibly part of a UTF-8 character): byte tokens give
  // their byte, control and user-defined tokens their text, unused tokens and invalid ids "".
  std::string TokenToPiece(int32_t id) const;

  // The text of `ids` as valid UTF-8 (ill-formed byte sequences become U+FFFD). skip_special
  // drops control and unknown tokens. With add_space_prefix (SPM), the space the encoder
  // prepended is removed from the first token after any leading control tokens (such as BOS).
  std::string Decode(std::span<const int32_t> ids, bool skip_special) const;

  // One step of Decode, shared with StreamingDetokenizer: appends the bytes `id` contributes.
  // `*strip_space` is true at the start of a sequence and cleared by the first non-control
  // token, whose leading space (if any) is dropped when add_space_prefix.
  void AppendDecodedPiece(int32_t id, bool skip_special, bool* strip_space,
                          std::string* bytes) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  int32_t bos_id() const { return vocab_.bos_id; }  // -1 when absent
  int32_t eos_id() const { return vocab_.eos_id; }
  // The end-of-turn token: tokenizer.ggml.eot_token_id, else found by text as llama.cpp does
  // (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, ...); -1 when none.
  int32_t eot_id() const { return eot_id_; }
  // True for EOS, EOT, EOM and the tokens whose text marks an end of generation in llama.cpp
  // (<|im_end|>, <|eot_id|>, <|endoftext|>, <|eom_id|>, <end_of_turn>, ...).
  bool IsEndOfGeneration(int32_t id) const { return end_of_generation_.contains(id); }
  bool IsValidId(int32_t id) const { return id >= 0 && id < vocab_size(); }
  TokenType token_type(int32_t id) const;  // kUndefined for invalid ids
  // The id of the token whose text is exactly `text`.
  std::optional<int32_t> FindToken(std::string_view text) const;

  const TokenizerVocab& vocab() const { return vocab_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The most input bytes one token of Encode's output stands for, so a text of B bytes gives at
  // least B / MaxBytesPerToken() tokens; 0 when no such bound holds (a vocabulary with no unknown
  // token and no token for some byte drops those bytes without a token).
  int64_t MaxBytesPerToken() const { return max_bytes_per_token_; }

 private:
  // A run of the input: either plain text or one special token matched in it.
  struct Fragment {
    std::string_view text;
    int32_t token = -1;  // >= 0 for a special token
  };

  explicit Tokenizer(TokenizerVocab vocab);
  void BuildSpecialTokens();
  void FindEndOfGeneration();
  void FindMaxBytesPerToken();
  std::vector<Fragment> SplitSpecial(std::string_view text, bool parse_special) const;
  // Plain text beyond this many bytes is encoded in independent windows (cut at a character
  // start), which keeps the encoders' symbol indices within int range for any input.
  static constexpr size_t kMaxFragmentBytes = size_t{1} << 28;
  static std::vector<Fragment> LimitFragmentSize(std::vector<Fragment> fragments);
  void EncodeSpm(const std::vector<Fragment>& fragments, std::vector<int32_t>* out) const;

  TokenizerVocab vocab_;
  std::unique_ptr<internal::TokenIndex> index_;
  // Control, unknown and user-defined tokens by first byte, longest text first.
  std::array<std::vector<int32_t>, 256> special_by_first_byte_;
  int32_t eot_id_ = -1;
  int64_t max_bytes_per_token_ = 0;
  absl::flat_hash_set<int32_t> end_of_generation_;
  std::unique_ptr<internal::BpeEncoder> bpe_;
  std::unique_ptr<internal::SpmEncoder> spm_;
  std::vector<std::string> warnings_;
};

}  // namespace hobbit::runtime
