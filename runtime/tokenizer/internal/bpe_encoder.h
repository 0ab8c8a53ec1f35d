// BpeEncoder: byte-level BPE (tokenizer.ggml.model "gpt2") for text that holds no special
// tokens: pre-tokenize, map bytes to the GPT-2 alphabet, then apply the lowest-ranked adjacent
// merge until none applies (ties: leftmost), as Hugging Face tokenizers' BPE model does.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "runtime/tokenizer/internal/pre_tokenizer.h"
#include "runtime/tokenizer/internal/token_index.h"
#include "runtime/tokenizer/tokenizer_vocab.h"

namespace hobbit::runtime::internal {

// Immutable after construction; Encode is thread-safe.
class BpeEncoder {
 public:
  // REQUIRES: `vocab` passed ValidateTokenizerVocab; `index` is its TokenIndex and outlives
  // the encoder. Merges naming a text that is not a token can never apply and are counted in
  // unusable_merges().
  BpeEncoder(const TokenizerVocab& vocab, const TokenIndex& index,
             const PreTokenizerConfig& config);

  // Appends the token ids of `text`.
  void Encode(std::string_view text, std::vector<int32_t>* out) const;

  int unusable_merges() const { return unusable_merges_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };

  struct Symbol;

  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;
  // Applies the lowest-ranked applicable merge (leftmost on ties) until none applies.
  void ApplyMerges(std::vector<Symbol>* symbols) const;
  const Merge* FindMerge(int32_t left, int32_t right) const;

  const TokenIndex& index_;
  PreTokenizer pre_tokenizer_;
  bool ignore_merges_;
  int32_t unk_id_;
  std::array<int32_t, 256> byte_ids_;            // token of each single byte, -1 if none
  absl::flat_hash_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
  int unusable_merges_ = 0;
};

}  // namespace hobbit::runtime::internal
