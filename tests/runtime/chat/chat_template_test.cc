#include "runtime/chat/chat_template.h"

#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hobbit::runtime {
namespace {

using ::testing::HasSubstr;

constexpr char kFixtureDir[] = "tests/fixtures/chat_templates/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// One conversation of chat_cases.txt (written by make_chat_fixtures.py).
struct FixtureCase {
  std::string family;
  std::string name;
  bool add_generation_prompt = false;
  std::string bos;
  std::string eos;
  std::vector<ChatMessage> messages;
  std::optional<std::string> expected;  // nullopt: the Jinja template raised
};

// Parses "<key...> <n>\n<n bytes>\n" blocks; returns false on a malformed file.
class FixtureReader {
 public:
  explicit FixtureReader(std::string text) : text_(std::move(text)) {}

  bool ReadAll(std::vector<FixtureCase>& cases) {
    std::string line;
    while (NextLine(line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream header(line);
      std::string word, gen;
      FixtureCase c;
      header >> word >> c.family >> c.name >> gen;
      if (word != "case") return false;
      c.add_generation_prompt = gen == "1";
      if (!ReadCaseBody(c)) return false;
      cases.push_back(std::move(c));
    }
    return true;
  }

 private:
  bool ReadCaseBody(FixtureCase& c) {
    std::string line;
    while (NextLine(line)) {
      if (line == "end") return true;
      if (line == "expect_error") continue;
      std::istringstream header(line);
      std::vector<std::string> words;
      for (std::string w; header >> w;) words.push_back(w);
      if (words.size() < 2) return false;
      std::string bytes;
      if (!ReadBytes(std::stoul(words.back()), bytes)) return false;
      if (words[0] == "bos") c.bos = bytes;
      else if (words[0] == "eos") c.eos = bytes;
      else if (words[0] == "expect") c.expected = bytes;
      else if (words[0] == "message" && words.size() == 3) c.messages.push_back({words[1], bytes});
      else return false;
    }
    return false;
  }

  bool NextLine(std::string& line) {
    if (pos_ >= text_.size()) return false;
    const size_t end = text_.find('\n', pos_);
    if (end == std::string::npos) return false;
    line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }

  bool ReadBytes(size_t n, std::string& bytes) {
    if (pos_ + n + 1 > text_.size() || text_[pos_ + n] != '\n') return false;
    bytes = text_.substr(pos_, n);
    pos_ += n + 1;
    return true;
  }

  std::string text_;
  size_t pos_ = 0;
};

ChatTemplateFamily FamilyOf(const std::string& name) {
  if (name == "mistral") return ChatTemplateFamily::kMistral;
  if (name == "chatml") return ChatTemplateFamily::kChatMl;
  if (name == "qwen3") return ChatTemplateFamily::kQwen3;
  EXPECT_EQ(name, "olmoe");
  return ChatTemplateFamily::kOlmoe;
}

TEST(ChatTemplateTest, MatchesTheJinjaReference) {
  std::vector<FixtureCase> cases;
  ASSERT_TRUE(FixtureReader(ReadFile(std::string(kFixtureDir) + "chat_cases.txt")).ReadAll(cases))
      << "malformed chat_cases.txt; regenerate it with make_chat_fixtures.py";
  std::map<std::string, int> per_family;
  int errors = 0;
  for (const FixtureCase& c : cases) {
    SCOPED_TRACE(c.family + " " + c.name + " gen=" + (c.add_generation_prompt ? "1" : "0") +
                 " bos=" + c.bos);
    const absl::StatusOr<std::string> rendered =
        RenderChat(FamilyOf(c.family), c.messages, c.add_generation_prompt, c.bos, c.eos);
    ++per_family[c.family];
    if (c.expected.has_value()) {
      ASSERT_TRUE(rendered.ok()) << rendered.status();
      EXPECT_EQ(*rendered, *c.expected);
    } else {
      ++errors;
      EXPECT_EQ(rendered.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GE(per_family["mistral"], 20);
  EXPECT_GE(per_family["chatml"], 20);
  EXPECT_GE(per_family["qwen3"], 20);
  EXPECT_GE(per_family["olmoe"], 20);
  EXPECT_GE(errors, 10);
}

TEST(ChatTemplateTest, DetectsThePublishedTemplates) {
  const std::map<std::string, ChatTemplateFamily> expected = {
      {"mixtral_8x7b_instruct_v0_1.jinja", ChatTemplateFamily::kMistral},
      {"mixtral_8x7b_instruct_v0_1_2023.jinja", ChatTemplateFamily::kMistral},
      {"qwen2_moe_instruct.jinja", ChatTemplateFamily::kChatMl},
      {"qwen3_moe.jinja", ChatTemplateFamily::kQwen3},
      {"olmoe_1b_7b_0924_instruct.jinja", ChatTemplateFamily::kOlmoe},
  };
  for (const auto& [file, family] : expected) {
    const std::string text = ReadFile(std::string(kFixtureDir) + file);
    ASSERT_FALSE(text.empty()) << file;
    // The template decides, whatever the architecture says.
    for (const char* arch : {"llama", "qwen2moe", "olmoe", "unknown"}) {
      const absl::StatusOr<ChatTemplateFamily> detected = DetectChatTemplate(text, arch);
      ASSERT_TRUE(detected.ok()) << file << ": " << detected.status();
      EXPECT_EQ(*detected, family) << file << " with " << arch;
    }
  }
}

TEST(ChatTemplateTest, FallsBackToTheArchitecture) {
  EXPECT_EQ(*DetectChatTemplate("", "llama"), ChatTemplateFamily::kMistral);
  EXPECT_EQ(*DetectChatTemplate("", "qwen2moe"), ChatTemplateFamily::kChatMl);
  EXPECT_EQ(*DetectChatTemplate("", "qwen3moe"), ChatTemplateFamily::kQwen3);
  EXPECT_EQ(*DetectChatTemplate("", "olmoe"), ChatTemplateFamily::kOlmoe);
  const absl::StatusOr<ChatTemplateFamily> unknown = DetectChatTemplate("", "gpt2");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("gpt2"));
}

TEST(ChatTemplateTest, RejectsAnUnrecognizedTemplate) {
  const absl::StatusOr<ChatTemplateFamily> llama3 = DetectChatTemplate(
      "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}", "llama");
  EXPECT_EQ(llama3.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(llama3.status().message()), HasSubstr("chat_template"));
}

TEST(ChatTemplateTest, FamilyNames) {
  EXPECT_EQ(ChatTemplateFamilyName(ChatTemplateFamily::kMistral), "mistral");
  EXPECT_EQ(ChatTemplateFamilyName(ChatTemplateFamily::kChatMl), "chatml");
  EXPECT_EQ(ChatTemplateFamilyName(ChatTemplateFamily::kQwen3), "qwen3");
  EXPECT_EQ(ChatTemplateFamilyName(ChatTemplateFamily::kOlmoe), "olmoe");
}

absl::Status RenderStatus(ChatTemplateFamily family, const std::vector<ChatMessage>& messages) {
  return RenderChat(family, messages, true, "<s>", "</s>").status();
}

TEST(ChatTemplateTest, RejectsAnEmptyConversation) {
  for (ChatTemplateFamily family : {ChatTemplateFamily::kMistral, ChatTemplateFamily::kChatMl,
                                    ChatTemplateFamily::kQwen3, ChatTemplateFamily::kOlmoe}) {
    const absl::Status status = RenderStatus(family, {});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("empty"));
  }
}

TEST(ChatTemplateTest, RejectsUnknownRolesNamingTheIndex) {
  for (ChatTemplateFamily family : {ChatTemplateFamily::kMistral, ChatTemplateFamily::kChatMl,
                                    ChatTemplateFamily::kQwen3, ChatTemplateFamily::kOlmoe}) {
    const absl::Status status =
        RenderStatus(family, {{"user", "a"}, {"assistant", "b"}, {"tool", "c"}});
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("messages[2]"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("\"tool\""));
  }
  EXPECT_EQ(RenderStatus(ChatTemplateFamily::kChatMl, {{"User", "a"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChatTemplateTest, MistralNamesTheMessageThatBreaksAlternation) {
  const absl::Status two_users =
      RenderStatus(ChatTemplateFamily::kMistral,
                   {{"system", "s"}, {"user", "a"}, {"assistant", "b"}, {"assistant", "c"}});
  EXPECT_EQ(two_users.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(two_users.message()), HasSubstr("messages[3]"));
  EXPECT_THAT(std::string(two_users.message()), HasSubstr("expected user, got assistant"));

  const absl::Status late_system = RenderStatus(
      ChatTemplateFamily::kMistral, {{"user", "a"}, {"assistant", "b"}, {"system", "c"}});
  EXPECT_THAT(std::string(late_system.message()), HasSubstr("messages[2]"));
  EXPECT_THAT(std::string(late_system.message()), HasSubstr("system message only first"));

  EXPECT_THAT(std::string(RenderStatus(ChatTemplateFamily::kMistral, {{"assistant", "a"}})
                              .message()),
              HasSubstr("messages[0]"));
}

}  // namespace
}  // namespace hobbit::runtime
