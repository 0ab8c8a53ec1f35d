// TokenizerVocab: the tokenizer.ggml.* metadata of a GGUF model as plain data, and its loader.
//
//   HOBBIT_ASSIGN_OR_RETURN(TokenizerVocab vocab, LoadTokenizerVocab(*gguf_file));
//   HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::Create(std::move(vocab)));
//
// The loader applies llama.cpp's defaults for absent keys (formats.md §4) and validates the
// result; every error names the offending key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hobbit::runtime {

class GgufFile;

// Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, </s>, <|im_end|>: never produced from text unless parse_special
  kUserDefined = 4,  // always split out of text and kept verbatim
  kUnused = 5,
  kByte = 6,  // SentencePiece byte fallback <0xXX>
};

// A tokenizer description. Plain data: fill it by hand in tests, or load it from a GGUF file.
struct TokenizerVocab {
  std::string model;                 // "llama" (SentencePiece-style) or "gpt2" (byte-level BPE)
  std::string pre;                   // BPE pre-tokenizer name; empty when the file has none
  std::vector<std::string> tokens;   // id -> text
  std::vector<float> scores;         // empty, or one per token (SPM merge priority)
  std::vector<int32_t> token_types;  // empty (all kNormal), or one TokenType value per token
  std::vector<std::string> merges;   // BPE merges "left right"; rank = index
  int32_t bos_id = -1;               // -1: absent
  int32_t eos_id = -1;
  int32_t eot_id = -1;
  int32_t eom_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;           // Encode(add_special=true) prepends bos_id
  bool add_eos = false;           // Encode(add_special=true) appends eos_id
  bool add_space_prefix = false;  // SPM: a space is prepended to the text before encoding
};

// Checks internal consistency: a supported model, non-empty tokens, scores/token_types of the
// tokens' length, token types in range, special ids in range, add_bos/add_eos only with their
// id, and every merge of the form "left right".
absl::Status ValidateTokenizerVocab(const TokenizerVocab& vocab);

// Reads tokenizer.ggml.{model, pre, tokens, scores, token_type, merges, bos/eos/eot/eom/
// unknown/padding_token_id, add_bos_token, add_eos_token, add_space_prefix} with llama.cpp's
// defaults: "llama" adds BOS and a space prefix and defaults bos/eos/unk to 1/2/0; "gpt2" adds
// BOS only for the Llama-3 family of pre-tokenizers. Keys present in the file override these.
absl::StatusOr<TokenizerVocab> LoadTokenizerVocab(const GgufFile& file);

}  // namespace hobbit::runtime
