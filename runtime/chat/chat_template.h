// Chat prompts for the supported model families, rendered natively (no Jinja engine).
//
//   HOBBIT_ASSIGN_OR_RETURN(ChatTemplateFamily family,
//                           DetectChatTemplate(gguf_chat_template, gguf_architecture));
//   HOBBIT_ASSIGN_OR_RETURN(std::string prompt,
//                           RenderChat(family, messages, /*add_generation_prompt=*/true,
//                                      bos_text, eos_text));
//   // Tokenize `prompt` with special tokens parsed and without adding another BOS.
//
// Each family reproduces, byte for byte, what transformers' apply_chat_template makes of one
// published template (tests/fixtures/chat_templates/make_chat_fixtures.py holds them):
//   kMistral  mistralai/Mixtral-8x7B-Instruct-v0.1 (2024 template: optional leading system
//             message folded into the first [INST], strict user/assistant alternation)
//   kChatMl   Qwen2-MoE instruct models (<|im_start|>role ... <|im_end|>, with the default
//             system message "You are a helpful assistant." when there is none)
//   kQwen3    Qwen3 MoE models (ChatML without a default system message; <think>...</think>
//             reasoning is dropped from assistant turns before the last user query, and the
//             turns after it carry a <think> block, an empty one for a final turn without)
//   kOlmoe    allenai/OLMoE-1B-7B-0924-Instruct (Tulu: <|system|>, <|user|>, <|assistant|>)
// Message contents are copied verbatim; they are never interpreted as template syntax.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hobbit::runtime {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplateFamily { kMistral, kChatMl, kQwen3, kOlmoe };

// "mistral", "chatml", "qwen3" or "olmoe".
std::string_view ChatTemplateFamilyName(ChatTemplateFamily family);

// Picks the family from markers in the GGUF's tokenizer.chat_template ("<|im_start|>" with
// "<think>" -> kQwen3, "<|im_start|>" -> kChatMl, "[INST]" -> kMistral, "<|user|>" -> kOlmoe,
// tried in that order) or, when the template is empty, from general.architecture
// ("llama" -> kMistral, "qwen2moe" -> kChatMl, "qwen3moe" -> kQwen3, "olmoe" -> kOlmoe).
// NotFound when a non-empty template has none of the markers (it is some other format, which
// rendering one of ours would silently get wrong) or when an empty template comes with an
// architecture we have no default for.
absl::StatusOr<ChatTemplateFamily> DetectChatTemplate(std::string_view chat_template,
                                                      std::string_view architecture);

// Renders a conversation. bos_text / eos_text are the tokenizer's BOS and EOS token texts
// (empty when the model has none); the templates place them as text. add_generation_prompt
// appends the opening of an assistant turn where the family has one (Mistral has none: its
// prompt already ends with [/INST]).
// InvalidArgument, naming the message index, for an empty conversation, a role other than
// system/user/assistant, or (kMistral) a system message other than the first, or user and
// assistant turns that do not alternate starting with user.
absl::StatusOr<std::string> RenderChat(ChatTemplateFamily family,
                                       std::span<const ChatMessage> messages,
                                       bool add_generation_prompt, std::string_view bos_text,
                                       std::string_view eos_text);

}  // namespace hobbit::runtime
