#include "server/engine_prompt_encoder.h"

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model_config.h"
#include "runtime/tokenizer/tokenizer.h"

namespace hobbit::server {
namespace {

std::string SpecialText(const runtime::Tokenizer& tokenizer, int32_t id) {
  return id >= 0 ? tokenizer.TokenToPiece(id) : std::string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EnginePromptEncoder>> EnginePromptEncoder::Create(
    const runtime::Engine& engine) {
  const runtime::Tokenizer& tokenizer = engine.tokenizer();
  absl::StatusOr<runtime::ChatTemplateFamily> family =
      runtime::DetectChatTemplate(engine.chat_template(), engine.model_config().architecture);
  std::optional<runtime::ChatTemplateFamily> known;
  std::string error;
  if (family.ok()) {
    known = *family;
  } else {
    error = std::string(family.status().message());
  }
  return std::unique_ptr<EnginePromptEncoder>(new EnginePromptEncoder(
      tokenizer, known, SpecialText(tokenizer, tokenizer.bos_id()),
      SpecialText(tokenizer, tokenizer.eos_id()), std::move(error)));
}

EnginePromptEncoder::EnginePromptEncoder(const runtime::Tokenizer& tokenizer,
                                         std::optional<runtime::ChatTemplateFamily> family,
                                         std::string bos_text, std::string eos_text,
                                         std::string template_error)
    : tokenizer_(tokenizer),
      family_(family),
      bos_text_(std::move(bos_text)),
      eos_text_(std::move(eos_text)),
      template_error_(std::move(template_error)) {}

absl::StatusOr<std::vector<int32_t>> EnginePromptEncoder::EncodeText(absl::string_view text,
                                                                     bool add_special) const {
  // Control tokens written in the text count, as with Hugging Face tokenizers and llama-server.
  return tokenizer_.Encode(std::string_view(text.data(), text.size()), add_special,
                           /*parse_special=*/true);
}

absl::StatusOr<std::vector<int32_t>> EnginePromptEncoder::EncodeChat(
    const std::vector<ChatTurn>& turns, bool add_generation_prompt) const {
  if (!family_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the model has no usable chat template (", template_error_,
                     "); send text or tokens instead"));
  }
  std::vector<runtime::ChatMessage> messages;
  messages.reserve(turns.size());
  for (const ChatTurn& turn : turns) messages.push_back({turn.role, turn.content});
  absl::StatusOr<std::string> prompt =
      runtime::RenderChat(*family_, messages, add_generation_prompt, bos_text_, eos_text_);
  if (!prompt.ok()) return prompt.status();
  // The template already placed BOS as text.
  return tokenizer_.Encode(*prompt, /*add_special=*/false, /*parse_special=*/true);
}

int64_t EnginePromptEncoder::MaxBytesPerToken() const { return tokenizer_.MaxBytesPerToken(); }

std::string EnginePromptEncoder::TokenPiece(int32_t id) const {
  return tokenizer_.TokenToPiece(id);
}

}  // namespace hobbit::server
