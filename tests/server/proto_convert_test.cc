#include "server/proto_convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hobbit::server {
namespace {

namespace v1 = ::hobbit::v1;

constexpr int32_t kBos = 1;

// One token per byte (byte % 90 + 10) after BOS; chat turns as "role:content" the same way.
// A "<fail>" chat role makes rendering fail like a template that rejects the conversation.
class ByteEncoder : public PromptEncoder {
 public:
  absl::StatusOr<std::vector<int32_t>> EncodeText(absl::string_view text,
                                                  bool add_special) const override {
    std::vector<int32_t> ids;
    if (add_special) ids.push_back(kBos);
    for (unsigned char c : text) ids.push_back(c % 90 + 10);
    return ids;
  }
  absl::StatusOr<std::vector<int32_t>> EncodeChat(const std::vector<ChatTurn>& turns,
                                                  bool add_generation_prompt) const override {
    std::string text;
    for (const ChatTurn& turn : turns) {
      if (turn.role == "<fail>") return absl::InvalidArgumentError("messages[0]: unknown role");
      absl::StrAppend(&text, turn.role, ":", turn.content, "\n");
    }
    if (add_generation_prompt) text += "assistant:";
    return EncodeText(text, true);
  }
  std::string TokenPiece(int32_t id) const override { return std::string(1, char(id)); }
};

RequestLimits TestLimits() {
  RequestLimits limits;
  limits.vocab_size = 100;
  limits.max_context = 64;
  limits.max_tokens_limit = 32;
  limits.max_stop_strings = 2;
  limits.max_stop_string_bytes = 8;
  return limits;
}

v1::GenerateRequest ValidRequest() {
  v1::GenerateRequest request;
  request.set_text("hello");
  return request;
}

TEST(ProtoConvertTest, ConvertsAFullRequest) {
  v1::GenerateRequest request;
  request.mutable_tokens()->add_ids(5);
  request.mutable_tokens()->add_ids(99);
  request.set_temperature(0.5f);
  request.set_top_k(40);
  request.set_top_p(0.9f);
  request.set_min_p(0.05f);
  request.set_repetition_penalty(1.1f);
  request.set_presence_penalty(0.5f);
  request.set_frequency_penalty(-0.5f);
  request.set_seed(1234);
  request.set_max_tokens(7);
  request.add_stop("\n\n");
  request.add_stop_token_ids(2);
  request.set_ignore_eos(true);
  request.set_top_logprobs(3);
  request.set_precision_policy(v1::PRECISION_POLICY_SPEED);
  request.set_request_id("req-1");
  ByteEncoder encoder;
  absl::StatusOr<runtime::GenerateRequest> out = ToEngineRequest(request, TestLimits(), encoder);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->prompt_tokens, (std::vector<int32_t>{5, 99}));
  EXPECT_FLOAT_EQ(out->sampling.temperature, 0.5f);
  EXPECT_EQ(out->sampling.top_k, 40);
  EXPECT_FLOAT_EQ(out->sampling.top_p, 0.9f);
  EXPECT_FLOAT_EQ(out->sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(out->sampling.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(out->sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(out->sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(out->sampling.seed, 1234u);
  EXPECT_EQ(out->max_tokens, 7);
  EXPECT_EQ(out->stop_strings, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(out->stop_token_ids, std::vector<int32_t>{2});
  EXPECT_TRUE(out->ignore_eos);
  EXPECT_EQ(out->top_logprobs, 3);
  EXPECT_EQ(out->precision_policy, runtime::PrecisionPolicy::kSpeed);
  EXPECT_EQ(out->client_request_id, "req-1");
}

TEST(ProtoConvertTest, UnsetFieldsKeepTheRuntimeDefaults) {
  ByteEncoder encoder;
  absl::StatusOr<runtime::GenerateRequest> out =
      ToEngineRequest(ValidRequest(), TestLimits(), encoder);
  ASSERT_TRUE(out.ok()) << out.status();
  const runtime::SamplingParams defaults;
  EXPECT_EQ(out->sampling.temperature, defaults.temperature);
  EXPECT_EQ(out->sampling.top_k, defaults.top_k);
  EXPECT_EQ(out->sampling.top_p, defaults.top_p);
  EXPECT_EQ(out->sampling.repetition_penalty, defaults.repetition_penalty);
  // The runtime's default max_tokens, capped by the configured limit.
  EXPECT_EQ(out->max_tokens, std::min(runtime::GenerateRequest().max_tokens, 32));
  EXPECT_EQ(out->prompt_tokens.front(), kBos);
  EXPECT_EQ(out->prompt_tokens.size(), 6u);
  EXPECT_EQ(out->precision_policy, runtime::PrecisionPolicy::kDefault);
}

// An unset max_tokens is cut to the room the prompt leaves in the context, so a long prompt is
// not rejected for a field the client never set; a set max_tokens is kept (and checked later).
TEST(ProtoConvertTest, DefaultMaxTokensFitsTheContextLeft) {
  ByteEncoder encoder;
  v1::GenerateRequest request;
  request.set_text(std::string(50, 'a'));  // BOS + 50 tokens of a 64-token context: 13 left
  absl::StatusOr<runtime::GenerateRequest> out = ToEngineRequest(request, TestLimits(), encoder);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->max_tokens, 13);
  request.set_max_tokens(20);
  out = ToEngineRequest(request, TestLimits(), encoder);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->max_tokens, 20);
}

// An encoder that says a token is at most 4 bytes and counts the texts it was asked to encode.
class CountingEncoder : public ByteEncoder {
 public:
  absl::StatusOr<std::vector<int32_t>> EncodeText(absl::string_view text, bool add_special) const override {
    ++calls;
    return ByteEncoder::EncodeText(text, add_special);
  }
  int64_t MaxBytesPerToken() const override { return 4; }
  mutable int calls = 0;
};

// A text that cannot fit the context whatever its tokens is refused before it is tokenized,
// naming its size; one the bound lets through is tokenized and judged on its tokens.
TEST(ProtoConvertTest, HugePromptIsRefusedBeforeTokenizing) {
  CountingEncoder encoder;
  v1::GenerateRequest request;
  request.set_text(std::string(16 << 20, 'a'));  // 16 MB against 64 tokens x 4 bytes
  absl::StatusOr<runtime::GenerateRequest> out = ToEngineRequest(request, TestLimits(), encoder);
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), ::testing::HasSubstr("16777216 bytes, at least 4194304 tokens"));
  EXPECT_THAT(out.status().message(), ::testing::HasSubstr("context of 64 tokens"));
  EXPECT_EQ(encoder.calls, 0);
  // Within the bound (2 x 64 x 4 + 16 bytes): tokenized, then refused on its 501 tokens.
  request.set_text(std::string(500, 'a'));
  out = ToEngineRequest(request, TestLimits(), encoder);
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), ::testing::HasSubstr("the prompt has 501 tokens"));
  EXPECT_EQ(encoder.calls, 1);
}

TEST(ProtoConvertTest, ChatIsRenderedWithGenerationPromptByDefault) {
  v1::GenerateRequest request;
  v1::ChatMessage* message = request.mutable_chat()->add_messages();
  message->set_role("user");
  message->set_content("hi");
  ByteEncoder encoder;
  absl::StatusOr<runtime::GenerateRequest> out = ToEngineRequest(request, TestLimits(), encoder);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->prompt_tokens, *encoder.EncodeText("user:hi\nassistant:", true));
  request.mutable_chat()->set_add_generation_prompt(false);
  out = ToEngineRequest(request, TestLimits(), encoder);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->prompt_tokens, *encoder.EncodeText("user:hi\n", true));
}

struct BadCase {
  std::string name;
  std::function<void(v1::GenerateRequest*)> mutate;
  std::string field;  // the message must start with "<field>: "
};

std::vector<BadCase> BadCases() {
  auto set_ids = [](std::vector<int32_t> ids) {
    return [ids](v1::GenerateRequest* r) {
      r->mutable_tokens()->mutable_ids()->Assign(ids.begin(), ids.end());
    };
  };
  auto chat = [](std::string role, std::string content) {
    return [role, content](v1::GenerateRequest* r) {
      v1::ChatMessage* m = r->mutable_chat()->add_messages();
      m->set_role(role);
      m->set_content(content);
    };
  };
  return {
      {"no input", [](v1::GenerateRequest* r) { r->clear_input(); }, "input"},
      {"empty text", [](v1::GenerateRequest* r) { r->set_text(""); }, "text"},
      {"invalid utf8 text", [](v1::GenerateRequest* r) { r->set_text("ab\xC3("); }, "text"},
      {"overlong utf8", [](v1::GenerateRequest* r) { r->set_text("\xC0\xAF"); }, "text"},
      {"surrogate utf8", [](v1::GenerateRequest* r) { r->set_text("\xED\xA0\x80"); }, "text"},
      {"truncated utf8", [](v1::GenerateRequest* r) { r->set_text("ok\xE2\x82"); }, "text"},
      {"text longer than context",
       [](v1::GenerateRequest* r) { r->set_text(std::string(63, 'a')); }, "text"},
      {"empty token list", set_ids({}), "tokens.ids"},
      {"negative token id", set_ids({5, -1}), "tokens.ids[1]"},
      {"token id = vocab", set_ids({5, 6, 100}), "tokens.ids[2]"},
      {"tokens longer than context", set_ids(std::vector<int32_t>(64, 5)), "tokens.ids"},
      {"empty chat", [](v1::GenerateRequest* r) { r->mutable_chat(); }, "chat.messages"},
      {"chat without role", chat("", "hi"), "chat.messages[0].role"},
      {"chat invalid utf8", chat("user", "\xFF"), "chat.messages[0].content"},
      {"chat rejected by template", chat("<fail>", "x"), "chat"},
      {"negative temperature", [](v1::GenerateRequest* r) { r->set_temperature(-0.1f); },
       "temperature"},
      {"huge temperature", [](v1::GenerateRequest* r) { r->set_temperature(1e9f); }, "temperature"},
      {"nan temperature", [](v1::GenerateRequest* r) { r->set_temperature(NAN); }, "temperature"},
      {"negative top_k", [](v1::GenerateRequest* r) { r->set_top_k(-1); }, "top_k"},
      {"top_k above vocab", [](v1::GenerateRequest* r) { r->set_top_k(101); }, "top_k"},
      {"top_p zero", [](v1::GenerateRequest* r) { r->set_top_p(0.0f); }, "top_p"},
      {"top_p above one", [](v1::GenerateRequest* r) { r->set_top_p(1.5f); }, "top_p"},
      {"min_p one", [](v1::GenerateRequest* r) { r->set_min_p(1.0f); }, "min_p"},
      {"min_p negative", [](v1::GenerateRequest* r) { r->set_min_p(-0.5f); }, "min_p"},
      {"repetition_penalty zero", [](v1::GenerateRequest* r) { r->set_repetition_penalty(0.0f); },
       "repetition_penalty"},
      {"presence_penalty 3", [](v1::GenerateRequest* r) { r->set_presence_penalty(3.0f); },
       "presence_penalty"},
      {"frequency_penalty -3", [](v1::GenerateRequest* r) { r->set_frequency_penalty(-3.0f); },
       "frequency_penalty"},
      {"max_tokens zero", [](v1::GenerateRequest* r) { r->set_max_tokens(0); }, "max_tokens"},
      {"max_tokens negative", [](v1::GenerateRequest* r) { r->set_max_tokens(-5); }, "max_tokens"},
      {"max_tokens huge", [](v1::GenerateRequest* r) { r->set_max_tokens(1 << 30); }, "max_tokens"},
      {"too many stop strings",
       [](v1::GenerateRequest* r) {
         r->add_stop("a");
         r->add_stop("b");
         r->add_stop("c");
       },
       "stop"},
      {"empty stop string", [](v1::GenerateRequest* r) { r->add_stop(""); }, "stop[0]"},
      {"long stop string", [](v1::GenerateRequest* r) { r->add_stop("123456789"); }, "stop[0]"},
      {"invalid utf8 stop", [](v1::GenerateRequest* r) { r->add_stop("\x80"); }, "stop[0]"},
      {"stop token id out of vocab", [](v1::GenerateRequest* r) { r->add_stop_token_ids(100); },
       "stop_token_ids[0]"},
      {"too many stop token ids",
       [](v1::GenerateRequest* r) {
         for (int i = 0; i <= kMaxStopTokenIds; ++i) r->add_stop_token_ids(1);
       },
       "stop_token_ids"},
      {"negative top_logprobs", [](v1::GenerateRequest* r) { r->set_top_logprobs(-1); },
       "top_logprobs"},
      {"top_logprobs 21", [](v1::GenerateRequest* r) { r->set_top_logprobs(21); }, "top_logprobs"},
      {"unknown precision policy",
       [](v1::GenerateRequest* r) { r->set_precision_policy(static_cast<v1::PrecisionPolicy>(9)); },
       "precision_policy"},
      {"long request id",
       [](v1::GenerateRequest* r) { r->set_request_id(std::string(129, 'x')); }, "request_id"},
      {"request id with newline", [](v1::GenerateRequest* r) { r->set_request_id("a\nb"); },
       "request_id"},
  };
}

TEST(ProtoConvertTest, EveryBadFieldIsNamed) {
  ByteEncoder encoder;
  for (const BadCase& bad : BadCases()) {
    v1::GenerateRequest request = ValidRequest();
    bad.mutate(&request);
    absl::StatusOr<runtime::GenerateRequest> out = ToEngineRequest(request, TestLimits(), encoder);
    ASSERT_FALSE(out.ok()) << bad.name;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << bad.name;
    EXPECT_EQ(out.status().message().substr(0, bad.field.size() + 2), bad.field + ": ")
        << bad.name << ": " << out.status().message();
  }
}

TEST(ProtoConvertTest, RangesAreInTheMessage) {
  ByteEncoder encoder;
  v1::GenerateRequest request = ValidRequest();
  request.set_top_p(0.0f);
  EXPECT_EQ(ToEngineRequest(request, TestLimits(), encoder).status().message(),
            "top_p: 0 is out of range (0, 1]");
  request = ValidRequest();
  request.set_max_tokens(33);
  EXPECT_EQ(ToEngineRequest(request, TestLimits(), encoder).status().message(),
            "max_tokens: 33 is out of range [1, 32]");
}

TEST(ProtoConvertTest, LongestPromptThatFitsIsAccepted) {
  ByteEncoder encoder;
  v1::GenerateRequest request;
  std::vector<int32_t> ids(63, 5);
  request.mutable_tokens()->mutable_ids()->Assign(ids.begin(), ids.end());
  EXPECT_TRUE(ToEngineRequest(request, TestLimits(), encoder).ok());
}

TEST(ProtoConvertTest, TokenizeChecksUtf8AndHonoursAddSpecial) {
  ByteEncoder encoder;
  v1::TokenizeRequest request;
  request.set_text("ab");
  EXPECT_EQ(*TokenizeText(request, encoder), (std::vector<int32_t>{kBos, 'a' % 90 + 10, 'b' % 90 + 10}));
  request.set_add_special(false);
  EXPECT_EQ(TokenizeText(request, encoder)->size(), 2u);
  request.set_text("\xFE");
  EXPECT_EQ(TokenizeText(request, encoder).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProtoConvertTest, ChunksMergeInOrder) {
  runtime::GenerateChunk first;
  first.tokens = {1, 2};
  first.text = "ab";
  runtime::GenerateChunk second;
  second.tokens = {3};
  second.text = "c";
  second.logprobs.push_back({3, -0.5f, {{3, -0.5f}, {4, -1.5f}}});
  v1::Chunk chunk;
  AppendChunk(first, &chunk);
  AppendChunk(second, &chunk);
  EXPECT_EQ(std::vector<int32_t>(chunk.token_ids().begin(), chunk.token_ids().end()),
            (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(chunk.text(), "abc");
  ASSERT_EQ(chunk.logprobs_size(), 1);
  EXPECT_EQ(chunk.logprobs(0).top_size(), 2);
  EXPECT_EQ(chunk.logprobs(0).top(1).token(), 4);
}

TEST(ProtoConvertTest, FinalCarriesReasonCountsAndTimings) {
  runtime::GenerateFinal final;
  final.reason = runtime::FinishReason::kLength;
  final.prompt_tokens = 5;
  final.generated_tokens = 9;
  final.queue_time = absl::Milliseconds(250);
  final.time_to_first_token = absl::Milliseconds(500);
  final.total_time = absl::Seconds(2);
  final.expert_stats.hits_high = 7;
  v1::Final out;
  ToProtoFinal(final, &out);
  EXPECT_EQ(out.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(out.prompt_tokens(), 5);
  EXPECT_EQ(out.generated_tokens(), 9);
  EXPECT_DOUBLE_EQ(out.timings().queue_seconds(), 0.25);
  EXPECT_DOUBLE_EQ(out.timings().time_to_first_token_seconds(), 0.5);
  EXPECT_DOUBLE_EQ(out.timings().total_seconds(), 2.0);
  EXPECT_EQ(out.expert_stats().hits_high(), 7u);
  const std::pair<runtime::FinishReason, v1::FinishReason> kReasons[] = {
      {runtime::FinishReason::kStop, v1::FINISH_REASON_STOP},
      {runtime::FinishReason::kCancelled, v1::FINISH_REASON_CANCELLED},
      {runtime::FinishReason::kAborted, v1::FINISH_REASON_ABORTED},
      {runtime::FinishReason::kError, v1::FINISH_REASON_ERROR}};
  for (const auto& [reason, expected] : kReasons) {
    final.reason = reason;
    ToProtoFinal(final, &out);
    EXPECT_EQ(out.finish_reason(), expected);
  }
}

}  // namespace
}  // namespace hobbit::server
