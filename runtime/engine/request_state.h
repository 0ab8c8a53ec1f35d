// RequestState: one request's life on the engine thread: its sampler, streaming detokenizer,
// stop-string matcher, finish rules and timings, and the sink its events go to.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "runtime/engine/generate_types.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/stop_string_matcher.h"
#include "runtime/tokenizer/streaming_detokenizer.h"
#include "runtime/tokenizer/tokenizer.h"

namespace hobbit::runtime {

// Created by Submit (any thread) and handed to the engine thread, which alone uses it from then
// on. The tokenizer must outlive it. REQUIRES: the request passed ValidateGenerateRequest.
class RequestState {
 public:
  RequestState(RequestId id, GenerateRequest request, EventSink sink, const Tokenizer& tokenizer,
               int32_t n_vocab, absl::Time submit_time);

  RequestState(const RequestState&) = delete;
  RequestState& operator=(const RequestState&) = delete;

  RequestId id() const { return id_; }
  const GenerateRequest& request() const { return request_; }
  int32_t num_prompt_tokens() const { return static_cast<int32_t>(request_.prompt_tokens.size()); }
  int32_t num_generated() const { return num_generated_; }
  bool scheduled() const { return first_scheduled_.has_value(); }

  // The step in which the scheduler first admitted the request (its queue time ends).
  void MarkScheduled(absl::Time now);

  // Samples the next token from this step's logits row, appends it (and its text, held back
  // while it may begin a stop string) to the pending chunk, and applies the finish rules in
  // order: stop token id, end of generation (unless ignore_eos), stop string, max_tokens, the
  // context limit. Returns the token and the finish reason if the request is done.
  struct TokenOutcome {
    int32_t token = 0;
    std::optional<FinishReason> finish;
  };
  TokenOutcome OnLogits(std::span<const float> logits, int32_t max_context, absl::Time now);

  // The chunk gathered this step (tokens, text, logprobs) as an event; nullopt if empty.
  std::optional<GenerateEvent> TakeChunk();

  // The final event. Any held-back text (not part of a stop string) must already have gone
  // out: OnLogits flushes it when it finishes the request.
  GenerateEvent MakeFinal(FinishReason reason, std::string message, absl::Time now) const;

  // Calls the sink. Engine thread, without the engine's lock.
  void Emit(GenerateEvent&& event) { sink_(std::move(event)); }

 private:
  // Detokenizer and stop-matcher leftovers at the end of generation.
  void FlushText();
  void AppendText(std::string_view delta);

  const RequestId id_;
  const GenerateRequest request_;
  const EventSink sink_;
  const Tokenizer& tokenizer_;
  const absl::flat_hash_set<int32_t> stop_ids_;
  Sampler sampler_;
  StreamingDetokenizer detokenizer_;
  StopStringMatcher stop_matcher_;
  int32_t num_generated_ = 0;
  GenerateChunk chunk_;
  const absl::Time submit_time_;
  std::optional<absl::Time> first_scheduled_;
  std::optional<absl::Time> first_token_;
};

}  // namespace hobbit::runtime
