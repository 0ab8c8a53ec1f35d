// Shared pieces of the engine tests: a thread-safe recorder of each request's events and a
// small hand-made tokenizer whose ids decode to predictable text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/engine/generate_types.h"
#include "runtime/tokenizer/tokenizer.h"

namespace hobbit::runtime {

// What one request received.
struct RequestResult {
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<TokenLogprob> logprobs;
  int chunks = 0;
  int finals = 0;
  int events_after_final = 0;
  GenerateFinal final;
};

class EventRecorder {
 public:
  EventSink Sink() {
    return [this](GenerateEvent&& e) { Record(std::move(e)); };
  }

  void Record(GenerateEvent&& e) {
    absl::MutexLock lock(&mu_);
    RequestResult& r = results_[e.id];
    if (r.finals > 0) ++r.events_after_final;
    if (e.is_final) {
      ++r.finals;
      r.final = std::move(e.final);
      return;
    }
    ++r.chunks;
    r.tokens.insert(r.tokens.end(), e.chunk.tokens.begin(), e.chunk.tokens.end());
    r.text += e.chunk.text;
    for (TokenLogprob& lp : e.chunk.logprobs) r.logprobs.push_back(std::move(lp));
  }

  // Waits for the request's final event (fails the test after `timeout`).
  RequestResult WaitFinal(RequestId id, absl::Duration timeout = absl::Seconds(60)) {
    absl::MutexLock lock(&mu_);
    auto done = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = results_.find(id);
      return it != results_.end() && it->second.finals > 0;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      ADD_FAILURE() << "request " << id << " got no final event within " << timeout;
      return {};
    }
    return results_[id];
  }

  // Waits until the request has received at least n chunks.
  void WaitChunks(RequestId id, int n, absl::Duration timeout = absl::Seconds(60)) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, id, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = results_.find(id);
      return it != results_.end() && (it->second.chunks >= n || it->second.finals > 0);
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&reached), timeout)) ADD_FAILURE() << "no chunks for " << id;
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<RequestId, RequestResult> results_ ABSL_GUARDED_BY(mu_);
};

// 64 ids: 0 <unk>, 1 <s>, 2 </s> (EOS), 3..28 "a".."z", 29..38 "0".."9", 39 "▁" (a space),
// 40..63 "A".."X". SentencePiece-style, no space prefix.
inline std::unique_ptr<Tokenizer> MakeTestTokenizer() {
  TokenizerVocab v;
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.token_types = {static_cast<int32_t>(TokenType::kUnknown), static_cast<int32_t>(TokenType::kControl),
                   static_cast<int32_t>(TokenType::kControl)};
  for (char c = 'a'; c <= 'z'; ++c) v.tokens.push_back(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c) v.tokens.push_back(std::string(1, c));
  v.tokens.push_back("\xE2\x96\x81");
  for (char c = 'A'; c <= 'X'; ++c) v.tokens.push_back(std::string(1, c));
  v.token_types.resize(v.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  v.scores.assign(v.tokens.size(), 0.0f);
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_space_prefix = false;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(std::move(v));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

// Token id of a lowercase letter in the test tokenizer.
constexpr int32_t Letter(char c) { return 3 + (c - 'a'); }

}  // namespace hobbit::runtime
