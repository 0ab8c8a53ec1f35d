// PromptEncoder: turns a request's text or chat messages into token ids. An interface so that
// request conversion and validation (proto_convert) are tested without a model; the daemon uses
// EnginePromptEncoder (the served model's tokenizer and chat template).
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace hobbit::server {

// One chat message, already validated (role non-empty, content valid UTF-8).
struct ChatTurn {
  std::string role;
  std::string content;
};

// Implementations are immutable after construction and safe to call from any thread.
class PromptEncoder {
 public:
  virtual ~PromptEncoder() = default;

  // Tokenizes UTF-8 text; `add_special` adds the model's BOS token when it uses one.
  virtual absl::StatusOr<std::vector<int32_t>> EncodeText(absl::string_view text,
                                                          bool add_special) const = 0;

  // Renders the conversation with the model's chat template and tokenizes it.
  // FailedPrecondition when the model has no chat template.
  virtual absl::StatusOr<std::vector<int32_t>> EncodeChat(const std::vector<ChatTurn>& turns,
                                                          bool add_generation_prompt) const = 0;

  // The bytes of one token's text (a byte-fallback token may hold part of a UTF-8 character).
  // REQUIRES: 0 <= id < the vocabulary size.
  virtual std::string TokenPiece(int32_t id) const = 0;

  // The most input bytes one token can stand for (0: unknown). A text of B bytes is then at
  // least B / MaxBytesPerToken() tokens, so a text far longer than the context is refused
  // before it is tokenized.
  virtual int64_t MaxBytesPerToken() const { return 0; }
};

}  // namespace hobbit::server
