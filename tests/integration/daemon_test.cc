// Starts the real hobbitd on a free port with the tiny Mixtral fixture and talks gRPC to it.
#include <signal.h>

#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/daemon_process.h"

namespace hobbit::integration {
namespace {

namespace v1 = ::hobbit::v1;

bool HaveModel() { return std::filesystem::exists(kTestModel); }

#define SKIP_WITHOUT_MODEL()                                                                \
  if (!HaveModel())                                                                         \
  GTEST_SKIP() << kTestModel << " is missing: run tests/fixtures/hf_tiny/make_hf_tiny.py"

v1::GenerateRequest GreedyTokens(std::vector<int32_t> ids, int max_tokens) {
  v1::GenerateRequest request;
  request.mutable_tokens()->mutable_ids()->Assign(ids.begin(), ids.end());
  request.set_temperature(0.0f);
  request.set_max_tokens(max_tokens);
  request.set_ignore_eos(true);
  return request;
}

class DaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!HaveModel()) return;
    auto daemon = DaemonProcess::Start("scheduler:\n  max_running: 16\n  max_waiting: 64\n");
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = daemon->release();
  }
  static void TearDownTestSuite() {
    if (daemon_ != nullptr) {
      // A clean drain after everything above (under ASan this also checks for leaks).
      daemon_->process().Signal(SIGTERM);
      absl::StatusOr<int> code = daemon_->process().Wait(absl::Seconds(30));
      EXPECT_TRUE(code.ok() && *code == 0) << daemon_->process().stderr_text();
    }
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    SKIP_WITHOUT_MODEL();
    ASSERT_NE(daemon_, nullptr);
  }

  static DaemonProcess* daemon_;
};

DaemonProcess* DaemonTest::daemon_ = nullptr;

TEST_F(DaemonTest, StreamsChunksThenOneFinal) {
  v1::GenerateRequest request;
  request.set_text("Hello world");
  request.set_max_tokens(16);
  request.set_temperature(0.0f);
  request.set_ignore_eos(true);
  request.set_top_logprobs(2);
  request.set_request_id("stream-test");
  StreamResult result = RunGenerate(daemon_->stub(), request);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_TRUE(result.final.has_value());
  EXPECT_GE(result.chunks, 1);
  EXPECT_EQ(result.tokens.size(), 16u);
  EXPECT_EQ(result.final->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(result.final->generated_tokens(), 16);
  EXPECT_GT(result.final->prompt_tokens(), 1);
  EXPECT_GE(result.final->timings().total_seconds(),
            result.final->timings().time_to_first_token_seconds());
}

TEST_F(DaemonTest, ChatTokenizeInfoAndStats) {
  v1::GenerateRequest request;
  v1::ChatMessage* message = request.mutable_chat()->add_messages();
  message->set_role("user");
  message->set_content("Hi there");
  request.set_max_tokens(4);
  request.set_seed(7);
  StreamResult chat = RunGenerate(daemon_->stub(), request);
  ASSERT_TRUE(chat.status.ok()) << chat.status.error_message();
  ASSERT_TRUE(chat.final.has_value());

  grpc::ClientContext tokenize_context;
  v1::TokenizeRequest tokenize;
  tokenize.set_text("Hello world");
  tokenize.set_return_pieces(true);
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(daemon_->stub()->Tokenize(&tokenize_context, tokenize, &tokens).ok());
  EXPECT_GT(tokens.ids_size(), 1);
  EXPECT_EQ(tokens.pieces_size(), tokens.ids_size());

  grpc::ClientContext info_context;
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(daemon_->stub()->GetModelInfo(&info_context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.architecture(), "llama");
  EXPECT_EQ(info.model_path(), kTestModel);
  EXPECT_EQ(info.experts(), 8);
  EXPECT_GT(info.vocab_size(), 0);
  EXPECT_EQ(info.max_context(), info.context_length_train());
  // The backend the engine runs on (not "auto"), and kv.type auto resolved on it.
  EXPECT_TRUE(info.backend() == "cpu" || info.backend() == "cuda") << info.backend();
  EXPECT_EQ(info.kv_cache_type(), info.backend() == "cuda" ? "f16" : "f32");

  v1::GetCacheStatsResponse stats = daemon_->Stats();
  EXPECT_GT(stats.kv_blocks_total(), 0);
  EXPECT_GE(stats.requests_finished(), 1u);
}

// 16 greedy streams at once give exactly what each gives alone.
TEST_F(DaemonTest, ConcurrentGreedyStreamsEqualSoloStreams) {
  constexpr int kStreams = 16;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kStreams; ++i) {
    std::vector<int32_t> prompt;
    for (int j = 0; j <= i % 7 + 2; ++j) prompt.push_back(1 + (i * 37 + j * 11) % 300);
    requests.push_back(GreedyTokens(prompt, 24 + i));
  }
  std::vector<std::vector<int32_t>> solo(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    StreamResult result = RunGenerate(daemon_->stub(), requests[i]);
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    solo[i] = result.tokens;
    ASSERT_EQ(solo[i].size(), static_cast<size_t>(24 + i));
  }
  std::vector<StreamResult> together(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      auto stub = daemon_->NewStub();
      together[i] = RunGenerate(stub.get(), requests[i]);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(together[i].status.ok()) << i << ": " << together[i].status.error_message();
    EXPECT_EQ(together[i].tokens, solo[i]) << "stream " << i;
  }
  EXPECT_TRUE(daemon_->WaitIdle(absl::Seconds(5)));
}

// Cancelling mid-stream frees the sequence: the engine stops before max_tokens and holds no KV.
TEST_F(DaemonTest, CancellationFreesTheSequence) {
  bool cancelled_early = false;
  for (int attempt = 0; attempt < 10 && !cancelled_early; ++attempt) {
    ASSERT_TRUE(daemon_->WaitIdle(absl::Seconds(5)));
    uint64_t before = daemon_->Stats().generated_tokens_total();
    grpc::ClientContext context;
    auto reader = daemon_->stub()->Generate(&context, GreedyTokens({1, 2, 3}, 240));
    v1::GenerateResponse response;
    ASSERT_TRUE(reader->Read(&response));
    context.TryCancel();
    while (reader->Read(&response)) {
    }
    grpc::Status status = reader->Finish();
    ASSERT_TRUE(daemon_->WaitIdle(absl::Seconds(2))) << "the cancelled sequence is still held";
    if (status.error_code() == grpc::StatusCode::CANCELLED) {
      cancelled_early = daemon_->Stats().generated_tokens_total() - before < 240;
    }
  }
  EXPECT_TRUE(cancelled_early) << "no attempt cancelled the sequence before it finished";
}

TEST_F(DaemonTest, DeadlineFreesTheSequence) {
  bool expired_early = false;
  for (int attempt = 0; attempt < 10 && !expired_early; ++attempt) {
    ASSERT_TRUE(daemon_->WaitIdle(absl::Seconds(5)));
    uint64_t before = daemon_->Stats().generated_tokens_total();
    StreamResult result = RunGenerate(daemon_->stub(), GreedyTokens({1, 5, 9}, 240),
                                      absl::Milliseconds(2 + attempt * 2));
    ASSERT_TRUE(daemon_->WaitIdle(absl::Seconds(2))) << "the expired sequence is still held";
    if (result.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      expired_early = daemon_->Stats().generated_tokens_total() - before < 240;
    }
  }
  EXPECT_TRUE(expired_early) << "no attempt expired before the sequence finished";
}

// A client that vanishes without cancelling (its connection closes) frees its sequence too.
TEST_F(DaemonTest, DisconnectFreesTheSequence) {
  ASSERT_TRUE(daemon_->WaitIdle(absl::Seconds(5)));
  {
    auto stub = daemon_->NewStub();
    grpc::ClientContext context;
    auto reader = stub->Generate(&context, GreedyTokens({4, 5, 6}, 240));
    v1::GenerateResponse response;
    ASSERT_TRUE(reader->Read(&response));
    context.TryCancel();
    (void)reader->Finish();
  }
  EXPECT_TRUE(daemon_->WaitIdle(absl::Seconds(2)));
}

struct BadRequest {
  std::string name;
  std::function<void(v1::GenerateRequest*)> mutate;
  grpc::StatusCode code;
  std::string field;  // the status message must start with "<field>: "
};

std::vector<BadRequest> BadRequests() {
  const auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
  auto ids = [](std::vector<int32_t> v) {
    return [v](v1::GenerateRequest* r) { r->mutable_tokens()->mutable_ids()->Assign(v.begin(), v.end()); };
  };
  return {
      {"no input", [](v1::GenerateRequest* r) { r->clear_input(); }, kInvalid, "input"},
      {"empty prompt", [](v1::GenerateRequest* r) { r->set_text(""); }, kInvalid, "text"},
      {"empty token list", ids({}), kInvalid, "tokens.ids"},
      {"negative token id", ids({1, -4}), kInvalid, "tokens.ids[1]"},
      {"unknown token id", ids({1, 1000000}), kInvalid, "tokens.ids[1]"},
      {"prompt longer than context", ids(std::vector<int32_t>(300, 5)), kInvalid, "tokens.ids"},
      {"text longer than context",
       [](v1::GenerateRequest* r) { r->set_text(std::string(2000, 'z') + " end"); }, kInvalid,
       "text"},
      {"empty chat", [](v1::GenerateRequest* r) { r->mutable_chat(); }, kInvalid, "chat.messages"},
      {"chat with empty role",
       [](v1::GenerateRequest* r) { r->mutable_chat()->add_messages()->set_content("x"); },
       kInvalid, "chat.messages[0].role"},
      {"chat with unknown role",
       [](v1::GenerateRequest* r) {
         auto* m = r->mutable_chat()->add_messages();
         m->set_role("wizard");
         m->set_content("x");
       },
       kInvalid, "chat"},
      {"negative max_tokens", [](v1::GenerateRequest* r) { r->set_max_tokens(-1); }, kInvalid,
       "max_tokens"},
      {"zero max_tokens", [](v1::GenerateRequest* r) { r->set_max_tokens(0); }, kInvalid,
       "max_tokens"},
      {"huge max_tokens", [](v1::GenerateRequest* r) { r->set_max_tokens(2000000000); }, kInvalid,
       "max_tokens"},
      {"temperature < 0", [](v1::GenerateRequest* r) { r->set_temperature(-1.0f); }, kInvalid,
       "temperature"},
      {"temperature inf", [](v1::GenerateRequest* r) { r->set_temperature(INFINITY); }, kInvalid,
       "temperature"},
      {"top_p 0", [](v1::GenerateRequest* r) { r->set_top_p(0.0f); }, kInvalid, "top_p"},
      {"top_p > 1", [](v1::GenerateRequest* r) { r->set_top_p(1.01f); }, kInvalid, "top_p"},
      {"top_k < 0", [](v1::GenerateRequest* r) { r->set_top_k(-2); }, kInvalid, "top_k"},
      {"min_p 1", [](v1::GenerateRequest* r) { r->set_min_p(1.0f); }, kInvalid, "min_p"},
      {"repetition_penalty 0", [](v1::GenerateRequest* r) { r->set_repetition_penalty(0.0f); },
       kInvalid, "repetition_penalty"},
      {"presence_penalty 5", [](v1::GenerateRequest* r) { r->set_presence_penalty(5.0f); },
       kInvalid, "presence_penalty"},
      {"frequency_penalty -5", [](v1::GenerateRequest* r) { r->set_frequency_penalty(-5.0f); },
       kInvalid, "frequency_penalty"},
      {"too many stop strings",
       [](v1::GenerateRequest* r) {
         for (int i = 0; i < 9; ++i) r->add_stop(absl::StrCat("s", i));
       },
       kInvalid, "stop"},
      {"empty stop string", [](v1::GenerateRequest* r) { r->add_stop(""); }, kInvalid, "stop[0]"},
      {"stop string too long", [](v1::GenerateRequest* r) { r->add_stop(std::string(129, 'x')); },
       kInvalid, "stop[0]"},
      {"unknown stop token id", [](v1::GenerateRequest* r) { r->add_stop_token_ids(99999); },
       kInvalid, "stop_token_ids[0]"},
      {"top_logprobs 50", [](v1::GenerateRequest* r) { r->set_top_logprobs(50); }, kInvalid,
       "top_logprobs"},
      {"unknown precision policy",
       [](v1::GenerateRequest* r) { r->set_precision_policy(static_cast<v1::PrecisionPolicy>(42)); },
       kInvalid, "precision_policy"},
      {"request id too long", [](v1::GenerateRequest* r) { r->set_request_id(std::string(200, 'r')); },
       kInvalid, "request_id"},
      {"request id with a newline",
       [](v1::GenerateRequest* r) { r->set_request_id("abc\nFORGED E hobbitd: injected"); }, kInvalid,
       "request_id"},
      {"invalid UTF-8 text", [](v1::GenerateRequest* r) { r->set_text("bad \xC3\x28 text"); },
       kInvalid, "text"},
      {"invalid UTF-8 stop string", [](v1::GenerateRequest* r) { r->add_stop("\xFF"); }, kInvalid,
       "stop[0]"},
  };
}

TEST_F(DaemonTest, BadRequestsAreRejectedNamingTheField) {
  std::vector<BadRequest> cases = BadRequests();
  ASSERT_GE(cases.size(), 25u);
  for (const BadRequest& bad : cases) {
    v1::GenerateRequest request;
    request.set_text("Hello");
    request.set_max_tokens(4);
    bad.mutate(&request);
    StreamResult result = RunGenerate(daemon_->stub(), request, absl::Seconds(10));
    EXPECT_EQ(result.status.error_code(), bad.code)
        << bad.name << ": " << result.status.error_message();
    EXPECT_EQ(result.status.error_message().substr(0, bad.field.size() + 2), bad.field + ": ")
        << bad.name << ": " << result.status.error_message();
    EXPECT_FALSE(result.final.has_value()) << bad.name;
  }
  // The rejected id was logged escaped: it could not start a log line of its own.
  const std::string log = daemon_->process().stderr_text();
  EXPECT_EQ(log.find("\nFORGED"), std::string::npos) << log;
  EXPECT_NE(log.find("abc\\nFORGED"), std::string::npos) << log;
  // Still serving.
  StreamResult after = RunGenerate(daemon_->stub(), GreedyTokens({1, 2}, 3));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.tokens.size(), 3u);
  EXPECT_TRUE(daemon_->WaitIdle(absl::Seconds(2)));
}

TEST_F(DaemonTest, TokenizeRejectsInvalidUtf8) {
  grpc::ClientContext context;
  v1::TokenizeRequest request;
  request.set_text("\xC0\x80");
  v1::TokenizeResponse response;
  grpc::Status status = daemon_->stub()->Tokenize(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_EQ(status.error_message().substr(0, 6), "text: ") << status.error_message();
}

}  // namespace
}  // namespace hobbit::integration
