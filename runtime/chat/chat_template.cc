#include "runtime/chat/chat_template.h"

#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"

namespace hobbit::runtime {
namespace {

constexpr std::string_view kQwenDefaultSystem = "You are a helpful assistant.";

// A small builder: absl::StrAppend takes absl::string_view, which in Debian's Abseil is not
// std::string_view, so appending goes through std::string directly.
void Append(std::string& out, std::initializer_list<std::string_view> pieces) {
  for (std::string_view piece : pieces) out.append(piece);
}

absl::Status CheckRoles(std::span<const ChatMessage> messages) {
  if (messages.empty()) {
    return absl::InvalidArgumentError("chat messages: the conversation is empty");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return absl::InvalidArgumentError(absl::StrCat(
          "chat messages[", i, "]: unknown role \"", role,
          "\" (expected system, user or assistant)"));
    }
  }
  return absl::OkStatus();
}

// Mixtral-8x7B-Instruct-v0.1: [bos][ [INST] (system\n\n)user [/INST]][ assistant eos]...
absl::StatusOr<std::string> RenderMistral(std::span<const ChatMessage> messages,
                                          std::string_view bos, std::string_view eos) {
  const bool has_system = messages.front().role == "system";
  const size_t first_turn = has_system ? 1 : 0;
  std::string out(bos);
  for (size_t i = first_turn; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    const bool expect_user = (i - first_turn) % 2 == 0;
    if (message.role == "system") {
      return absl::InvalidArgumentError(absl::StrCat(
          "chat messages[", i, "]: the Mistral template allows a system message only first"));
    }
    if ((message.role == "user") != expect_user) {
      return absl::InvalidArgumentError(absl::StrCat(
          "chat messages[", i, "]: the Mistral template needs user and assistant turns to "
          "alternate, starting with user after the optional system message; expected ",
          expect_user ? "user" : "assistant", ", got ", message.role));
    }
    if (message.role == "user") {
      if (i == first_turn && has_system) {
        Append(out, {" [INST] ", messages.front().content, "\n\n", message.content, " [/INST]"});
      } else {
        Append(out, {" [INST] ", message.content, " [/INST]"});
      }
    } else {
      Append(out, {" ", message.content, eos});
    }
  }
  return out;
}

// Qwen2-MoE ChatML: <|im_start|>role\ncontent<|im_end|>\n per message.
std::string RenderChatMl(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  if (messages.front().role != "system") {
    Append(out, {"<|im_start|>system\n", kQwenDefaultSystem, "<|im_end|>\n"});
  }
  for (const ChatMessage& message : messages) {
    Append(out, {"<|im_start|>", message.role, "\n", message.content, "<|im_end|>\n"});
  }
  if (add_generation_prompt) out.append("<|im_start|>assistant\n");
  return out;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string_view StripNewlines(std::string_view text, bool left, bool right) {
  while (left && !text.empty() && text.front() == '\n') text.remove_prefix(1);
  while (right && !text.empty() && text.back() == '\n') text.remove_suffix(1);
  return text;
}

// The index of the last user message that is not a tool response, or the last index when
// there is none: assistant turns after it keep their reasoning.
size_t LastQueryIndex(std::span<const ChatMessage> messages) {
  for (size_t i = messages.size(); i-- > 0;) {
    const std::string& content = messages[i].content;
    if (messages[i].role == "user" &&
        !(StartsWith(content, "<tool_response>") && EndsWith(content, "</tool_response>"))) {
      return i;
    }
  }
  return messages.size() - 1;
}

// A Qwen3 assistant turn, split as the template splits it: the reasoning is what lies between
// the last <think> before the first </think> and that </think>; the answer follows the last
// </think>.
void AppendQwen3Assistant(std::string& out, std::string_view content, bool keep_reasoning,
                          bool last) {
  std::string_view reasoning;
  if (const size_t first_close = content.find("</think>"); first_close != std::string::npos) {
    std::string_view before = StripNewlines(content.substr(0, first_close), false, true);
    if (const size_t open = before.rfind("<think>"); open != std::string::npos) {
      before.remove_prefix(open + std::string_view("<think>").size());
    }
    reasoning = StripNewlines(before, true, false);
    const size_t last_close = content.rfind("</think>");
    content = StripNewlines(content.substr(last_close + std::string_view("</think>").size()),
                            true, false);
  }
  if (keep_reasoning && (last || !reasoning.empty())) {
    Append(out, {"<|im_start|>assistant\n<think>\n", StripNewlines(reasoning, true, true),
                 "\n</think>\n\n", StripNewlines(content, true, false), "<|im_end|>\n"});
  } else {
    Append(out, {"<|im_start|>assistant\n", content, "<|im_end|>\n"});
  }
}

// Qwen3 MoE: ChatML with no default system message and <think> handling.
std::string RenderQwen3(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  const size_t last_query = LastQueryIndex(messages);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == "assistant") {
      AppendQwen3Assistant(out, message.content, i > last_query, i + 1 == messages.size());
    } else {
      Append(out, {"<|im_start|>", message.role, "\n", message.content, "<|im_end|>\n"});
    }
  }
  if (add_generation_prompt) out.append("<|im_start|>assistant\n");
  return out;
}

// OLMoE (Tulu): bos, then <|role|>\ncontent\n; an assistant turn ends with eos, and with a
// newline after it unless it is the last message.
std::string RenderOlmoe(std::span<const ChatMessage> messages, bool add_generation_prompt,
                        std::string_view bos, std::string_view eos) {
  std::string out(bos);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    const bool last = i + 1 == messages.size();
    if (message.role == "assistant") {
      Append(out, {"<|assistant|>\n", message.content, eos, last ? "" : "\n"});
    } else {
      Append(out, {"<|", message.role, "|>\n", message.content, "\n"});
    }
  }
  if (add_generation_prompt) out.append("<|assistant|>\n");
  return out;
}

}  // namespace

std::string_view ChatTemplateFamilyName(ChatTemplateFamily family) {
  switch (family) {
    case ChatTemplateFamily::kMistral:
      return "mistral";
    case ChatTemplateFamily::kChatMl:
      return "chatml";
    case ChatTemplateFamily::kQwen3:
      return "qwen3";
    case ChatTemplateFamily::kOlmoe:
      return "olmoe";
  }
  return "unknown";
}

absl::StatusOr<ChatTemplateFamily> DetectChatTemplate(std::string_view chat_template,
                                                      std::string_view architecture) {
  if (!chat_template.empty()) {
    if (chat_template.find("<|im_start|>") != std::string_view::npos) {
      return chat_template.find("<think>") != std::string_view::npos
                 ? ChatTemplateFamily::kQwen3
                 : ChatTemplateFamily::kChatMl;
    }
    if (chat_template.find("[INST]") != std::string_view::npos) {
      return ChatTemplateFamily::kMistral;
    }
    if (chat_template.find("<|user|>") != std::string_view::npos) {
      return ChatTemplateFamily::kOlmoe;
    }
    return absl::NotFoundError(absl::StrCat(
        "tokenizer.chat_template has none of the markers of a supported chat format "
        "(<|im_start|>, [INST], <|user|>); architecture \"", std::string(architecture), "\""));
  }
  if (architecture == "llama") return ChatTemplateFamily::kMistral;
  if (architecture == "qwen2moe") return ChatTemplateFamily::kChatMl;
  if (architecture == "qwen3moe") return ChatTemplateFamily::kQwen3;
  if (architecture == "olmoe") return ChatTemplateFamily::kOlmoe;
  return absl::NotFoundError(absl::StrCat(
      "no tokenizer.chat_template and no default chat format for architecture \"",
      std::string(architecture), "\" (known: llama, qwen2moe, qwen3moe, olmoe)"));
}

absl::StatusOr<std::string> RenderChat(ChatTemplateFamily family,
                                       std::span<const ChatMessage> messages,
                                       bool add_generation_prompt, std::string_view bos_text,
                                       std::string_view eos_text) {
  if (absl::Status status = CheckRoles(messages); !status.ok()) return status;
  switch (family) {
    case ChatTemplateFamily::kMistral:
      return RenderMistral(messages, bos_text, eos_text);
    case ChatTemplateFamily::kChatMl:
      return RenderChatMl(messages, add_generation_prompt);
    case ChatTemplateFamily::kQwen3:
      return RenderQwen3(messages, add_generation_prompt);
    case ChatTemplateFamily::kOlmoe:
      return RenderOlmoe(messages, add_generation_prompt, bos_text, eos_text);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown chat template family ", static_cast<int>(family)));
}

}  // namespace hobbit::runtime
