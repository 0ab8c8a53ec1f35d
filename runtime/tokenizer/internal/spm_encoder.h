// SpmEncoder: SentencePiece-style BPE (tokenizer.ggml.model "llama") for text that holds no
// special tokens and whose spaces are already escaped as U+2581: start from UTF-8 characters,
// repeatedly merge the adjacent pair whose concatenation is a token with the highest score
// (ties: leftmost), then emit symbols that are not tokens as byte tokens <0xXX>, else UNK.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/internal/token_index.h"
#include "runtime/tokenizer/tokenizer_vocab.h"

namespace hobbit::runtime::internal {

// Immutable after construction; Encode is thread-safe.
class SpmEncoder {
 public:
  // REQUIRES: `vocab` passed ValidateTokenizerVocab; `index` is its TokenIndex. Both outlive
  // the encoder.
  SpmEncoder(const TokenizerVocab& vocab, const TokenIndex& index);

  // Appends the token ids of `escaped_text`.
  void Encode(std::string_view escaped_text, std::vector<int32_t>* out) const;

 private:
  struct Symbol;

  // Merges the adjacent pair whose concatenation is a token with the highest score (leftmost
  // on ties) until no adjacent pair forms a token.
  void ApplyMerges(std::string_view text, std::vector<Symbol>* symbols) const;
  float Score(int32_t id) const;
  // The token a symbol text stands for, or -1. Only normal and user-defined tokens count, as in
  // sentencepiece: control, byte and unused pieces are never the result of a merge.
  int32_t FindPiece(std::string_view text) const;
  void EmitUnknown(std::string_view text, std::vector<int32_t>* out) const;

  const TokenizerVocab& vocab_;
  const TokenIndex& index_;
  std::array<int32_t, 256> byte_ids_;  // <0xXX> token of each byte, -1 if none
};

}  // namespace hobbit::runtime::internal
