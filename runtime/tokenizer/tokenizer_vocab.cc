#include "runtime/tokenizer/tokenizer_vocab.h"

#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/tokenizer/internal/pre_tokenizer.h"

namespace hobbit::runtime {
namespace {

constexpr char kModelKey[] = "tokenizer.ggml.model";
constexpr char kPreKey[] = "tokenizer.ggml.pre";
constexpr char kTokensKey[] = "tokenizer.ggml.tokens";
constexpr char kScoresKey[] = "tokenizer.ggml.scores";
constexpr char kTokenTypeKey[] = "tokenizer.ggml.token_type";
constexpr char kMergesKey[] = "tokenizer.ggml.merges";
constexpr char kBosKey[] = "tokenizer.ggml.bos_token_id";
constexpr char kEosKey[] = "tokenizer.ggml.eos_token_id";
constexpr char kEotKey[] = "tokenizer.ggml.eot_token_id";
constexpr char kEomKey[] = "tokenizer.ggml.eom_token_id";
constexpr char kUnkKey[] = "tokenizer.ggml.unknown_token_id";
constexpr char kPadKey[] = "tokenizer.ggml.padding_token_id";
constexpr char kAddBosKey[] = "tokenizer.ggml.add_bos_token";
constexpr char kAddEosKey[] = "tokenizer.ggml.add_eos_token";
constexpr char kAddSpacePrefixKey[] = "tokenizer.ggml.add_space_prefix";

// Debian's Abseil has its own string_view type, which StrCat takes.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string TypeOf(const GgufValue& value) {
  if (!value.is_array()) return GgufValueTypeName(value.type());
  return absl::StrCat("arr[", GgufValueTypeName(value.array_type()), "]");
}

absl::Status WrongType(std::string_view key, std::string_view expected, const GgufValue& value) {
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(key), ": expected ", AsAbsl(expected), ", found ", TypeOf(value)));
}

absl::StatusOr<std::optional<std::string>> ReadString(const GgufFile& file, std::string_view key) {
  const GgufValue* value = file.Find(key);
  if (value == nullptr) return std::optional<std::string>();
  const std::string* s = value->AsString();
  if (s == nullptr) return WrongType(key, "a string", *value);
  return std::optional<std::string>(*s);
}

absl::Status ReadBool(const GgufFile& file, std::string_view key, bool* out) {
  const GgufValue* value = file.Find(key);
  if (value == nullptr) return absl::OkStatus();
  const std::optional<bool> b = value->AsBool();
  if (!b.has_value()) return WrongType(key, "a bool", *value);
  *out = *b;
  return absl::OkStatus();
}

// Reads an optional token id; range checks against the vocabulary happen in Validate.
absl::Status ReadTokenId(const GgufFile& file, std::string_view key, int32_t* out) {
  const GgufValue* value = file.Find(key);
  if (value == nullptr) return absl::OkStatus();
  const std::optional<int64_t> id = value->is_array() ? std::nullopt : value->AsInt();
  if (!id.has_value() || value->type() == GgufValueType::kBool) {
    return WrongType(key, "an integer token id", *value);
  }
  if (*id < 0 || *id > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(key), " = ", *id, " is not a valid token id"));
  }
  *out = static_cast<int32_t>(*id);
  return absl::OkStatus();
}

absl::Status ReadArrays(const GgufFile& file, TokenizerVocab* vocab) {
  const GgufValue* tokens = file.Find(kTokensKey);
  if (tokens == nullptr) return absl::NotFoundError(absl::StrCat(kTokensKey, ": key not found"));
  if (tokens->AsStringArray() == nullptr) return WrongType(kTokensKey, "arr[str]", *tokens);
  vocab->tokens = *tokens->AsStringArray();

  if (const GgufValue* scores = file.Find(kScoresKey); scores != nullptr) {
    std::optional<std::vector<float>> values = scores->AsFloatArray();
    if (!values.has_value()) return WrongType(kScoresKey, "arr[f32]", *scores);
    vocab->scores = std::move(*values);
  }
  if (const GgufValue* types = file.Find(kTokenTypeKey); types != nullptr) {
    std::optional<std::vector<int64_t>> values = types->AsIntArray();
    if (!values.has_value()) return WrongType(kTokenTypeKey, "arr[i32]", *types);
    vocab->token_types.reserve(values->size());
    for (size_t i = 0; i < values->size(); ++i) {
      const int64_t t = (*values)[i];
      if (t < 0 || t > static_cast<int64_t>(TokenType::kByte)) {
        return absl::InvalidArgumentError(
            absl::StrCat(kTokenTypeKey, "[", i, "] = ", t, " is not a token type (0..6)"));
      }
      vocab->token_types.push_back(static_cast<int32_t>(t));
    }
  }
  if (const GgufValue* merges = file.Find(kMergesKey); merges != nullptr) {
    if (merges->AsStringArray() == nullptr) return WrongType(kMergesKey, "arr[str]", *merges);
    vocab->merges = *merges->AsStringArray();
  }
  return absl::OkStatus();
}

absl::Status CheckId(std::string_view key, int32_t id, size_t n_tokens) {
  if (id == -1 || (id >= 0 && static_cast<size_t>(id) < n_tokens)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      AsAbsl(key), " = ", id, " is out of range (the vocabulary has ", n_tokens, " tokens)"));
}

absl::Status CheckLength(std::string_view key, size_t size, size_t n_tokens) {
  if (size == 0 || size == n_tokens) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(key), " has ", size, " entries but ", kTokensKey, " has ", n_tokens));
}

absl::Status CheckMerges(const std::vector<std::string>& merges) {
  for (size_t i = 0; i < merges.size(); ++i) {
    const size_t space = merges[i].find(' ', 1);
    if (space == std::string::npos || space + 1 >= merges[i].size()) {
      return absl::InvalidArgumentError(absl::StrCat(kMergesKey, "[", i, "] = '", merges[i],
                                                     "' is not of the form 'left right'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTokenizerVocab(const TokenizerVocab& vocab) {
  if (vocab.model != "llama" && vocab.model != "gpt2") {
    return absl::InvalidArgumentError(absl::StrCat(kModelKey, ": unsupported tokenizer model '",
                                                   vocab.model, "' (supported: llama, gpt2)"));
  }
  const size_t n = vocab.tokens.size();
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(kTokensKey, ": no tokens"));
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(kTokensKey, ": too many tokens (", n, ")"));
  }
  HOBBIT_RETURN_IF_ERROR(CheckLength(kScoresKey, vocab.scores.size(), n));
  HOBBIT_RETURN_IF_ERROR(CheckLength(kTokenTypeKey, vocab.token_types.size(), n));
  for (size_t i = 0; i < vocab.token_types.size(); ++i) {
    const int32_t t = vocab.token_types[i];
    if (t < 0 || t > static_cast<int32_t>(TokenType::kByte)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kTokenTypeKey, "[", i, "] = ", t, " is not a token type (0..6)"));
    }
  }
  HOBBIT_RETURN_IF_ERROR(CheckId(kBosKey, vocab.bos_id, n));
  HOBBIT_RETURN_IF_ERROR(CheckId(kEosKey, vocab.eos_id, n));
  HOBBIT_RETURN_IF_ERROR(CheckId(kEotKey, vocab.eot_id, n));
  HOBBIT_RETURN_IF_ERROR(CheckId(kEomKey, vocab.eom_id, n));
  HOBBIT_RETURN_IF_ERROR(CheckId(kUnkKey, vocab.unk_id, n));
  HOBBIT_RETURN_IF_ERROR(CheckId(kPadKey, vocab.pad_id, n));
  if (vocab.add_bos && vocab.bos_id == -1) {
    return absl::InvalidArgumentError(
        absl::StrCat(kAddBosKey, " is true but ", kBosKey, " is not set"));
  }
  if (vocab.add_eos && vocab.eos_id == -1) {
    return absl::InvalidArgumentError(
        absl::StrCat(kAddEosKey, " is true but ", kEosKey, " is not set"));
  }
  return CheckMerges(vocab.merges);
}

absl::StatusOr<TokenizerVocab> LoadTokenizerVocab(const GgufFile& file) {
  TokenizerVocab vocab;
  HOBBIT_ASSIGN_OR_RETURN(std::optional<std::string> model, ReadString(file, kModelKey));
  if (!model.has_value()) return absl::NotFoundError(absl::StrCat(kModelKey, ": key not found"));
  vocab.model = std::move(*model);
  HOBBIT_ASSIGN_OR_RETURN(std::optional<std::string> pre, ReadString(file, kPreKey));
  vocab.pre = pre.value_or("");
  HOBBIT_RETURN_IF_ERROR(ReadArrays(file, &vocab));

  // llama.cpp's defaults, before the file's keys override them.
  const int32_t n = static_cast<int32_t>(vocab.tokens.size());
  if (vocab.model == "llama") {
    vocab.add_bos = true;
    vocab.add_space_prefix = true;
    vocab.bos_id = n > 1 ? 1 : -1;
    vocab.eos_id = n > 2 ? 2 : -1;
    vocab.unk_id = n > 0 ? 0 : -1;
  } else if (vocab.model == "gpt2") {
    vocab.add_bos = internal::ResolvePreTokenizer(vocab.pre).add_bos;
  }

  HOBBIT_RETURN_IF_ERROR(ReadTokenId(file, kBosKey, &vocab.bos_id));
  HOBBIT_RETURN_IF_ERROR(ReadTokenId(file, kEosKey, &vocab.eos_id));
  HOBBIT_RETURN_IF_ERROR(ReadTokenId(file, kEotKey, &vocab.eot_id));
  HOBBIT_RETURN_IF_ERROR(ReadTokenId(file, kEomKey, &vocab.eom_id));
  HOBBIT_RETURN_IF_ERROR(ReadTokenId(file, kUnkKey, &vocab.unk_id));
  HOBBIT_RETURN_IF_ERROR(ReadTokenId(file, kPadKey, &vocab.pad_id));
  HOBBIT_RETURN_IF_ERROR(ReadBool(file, kAddBosKey, &vocab.add_bos));
  HOBBIT_RETURN_IF_ERROR(ReadBool(file, kAddEosKey, &vocab.add_eos));
  HOBBIT_RETURN_IF_ERROR(ReadBool(file, kAddSpacePrefixKey, &vocab.add_space_prefix));

  HOBBIT_RETURN_IF_ERROR(ValidateTokenizerVocab(vocab));
  return vocab;
}

}  // namespace hobbit::runtime
