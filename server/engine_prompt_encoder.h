// EnginePromptEncoder: the PromptEncoder of the served model: its tokenizer, and the chat
// template family detected from its GGUF metadata (runtime/chat renders it).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/chat/chat_template.h"
#include "server/prompt_encoder.h"

namespace hobbit::runtime {
class Engine;
class Tokenizer;
}  // namespace hobbit::runtime

namespace hobbit::server {

// Immutable; thread-safe. Borrows the engine's tokenizer: the engine must outlive it.
class EnginePromptEncoder final : public PromptEncoder {
 public:
  static absl::StatusOr<std::unique_ptr<EnginePromptEncoder>> Create(const runtime::Engine& engine);

  // Whether chat input can be rendered (the model's template is one of the known families).
  bool has_chat_template() const { return family_.has_value(); }

  absl::StatusOr<std::vector<int32_t>> EncodeText(absl::string_view text,
                                                  bool add_special) const override;
  absl::StatusOr<std::vector<int32_t>> EncodeChat(const std::vector<ChatTurn>& turns,
                                                  bool add_generation_prompt) const override;
  std::string TokenPiece(int32_t id) const override;
  int64_t MaxBytesPerToken() const override;

 private:
  EnginePromptEncoder(const runtime::Tokenizer& tokenizer,
                      std::optional<runtime::ChatTemplateFamily> family, std::string bos_text,
                      std::string eos_text, std::string template_error);

  const runtime::Tokenizer& tokenizer_;
  const std::optional<runtime::ChatTemplateFamily> family_;
  const std::string bos_text_;
  const std::string eos_text_;
  const std::string template_error_;  // why family_ is empty
};

}  // namespace hobbit::server
