#include "runtime/engine/request_state.h"

#include <utility>

namespace hobbit::runtime {

RequestState::RequestState(RequestId id, GenerateRequest request, EventSink sink, const Tokenizer& tokenizer,
                           int32_t n_vocab, absl::Time submit_time)
    : id_(id),
      request_(std::move(request)),
      sink_(std::move(sink)),
      tokenizer_(tokenizer),
      stop_ids_(request_.stop_token_ids.begin(), request_.stop_token_ids.end()),
      sampler_(request_.sampling, n_vocab),
      detokenizer_(tokenizer, /*skip_special=*/true, /*sequence_start=*/false),
      stop_matcher_(request_.stop_strings),
      submit_time_(submit_time) {
  // The prompt counts for the repetition penalties.
  for (int32_t t : request_.prompt_tokens) sampler_.Accept(t);
}

void RequestState::MarkScheduled(absl::Time now) {
  if (!first_scheduled_.has_value()) first_scheduled_ = now;
}

RequestState::TokenOutcome RequestState::OnLogits(std::span<const float> logits, int32_t max_context,
                                                  absl::Time now) {
  TokenOutcome outcome;
  outcome.token = sampler_.Sample(logits);
  sampler_.Accept(outcome.token);
  ++num_generated_;
  if (!first_token_.has_value()) first_token_ = now;
  chunk_.tokens.push_back(outcome.token);
  if (request_.top_logprobs > 0) {
    TokenLogprob lp;
    lp.token = outcome.token;
    lp.logprob = sampler_.last_logprob();
    lp.top = sampler_.TopLogprobs(logits, request_.top_logprobs);
    chunk_.logprobs.push_back(std::move(lp));
  }
  // A stop token ends the text before it: its own text (often "</s>") is not part of the answer.
  if (stop_ids_.contains(outcome.token) ||
      (!request_.ignore_eos && tokenizer_.IsEndOfGeneration(outcome.token))) {
    outcome.finish = FinishReason::kStop;
  } else {
    AppendText(detokenizer_.Push(outcome.token));
    if (stop_matcher_.stopped()) {
      outcome.finish = FinishReason::kStop;
    } else if (num_generated_ >= request_.max_tokens ||
               num_prompt_tokens() + num_generated_ >= max_context) {
      outcome.finish = FinishReason::kLength;
    }
  }
  if (outcome.finish.has_value()) FlushText();
  return outcome;
}

void RequestState::AppendText(std::string_view delta) {
  if (delta.empty() || stop_matcher_.stopped()) return;
  chunk_.text += stop_matcher_.Push(delta).emit;
}

void RequestState::FlushText() {
  AppendText(detokenizer_.Flush());
  if (!stop_matcher_.stopped()) chunk_.text += stop_matcher_.Flush();
}

std::optional<GenerateEvent> RequestState::TakeChunk() {
  if (chunk_.tokens.empty()) return std::nullopt;
  GenerateEvent event;
  event.id = id_;
  event.chunk = std::move(chunk_);
  chunk_ = GenerateChunk();
  return event;
}

GenerateEvent RequestState::MakeFinal(FinishReason reason, std::string message, absl::Time now) const {
  GenerateEvent event;
  event.id = id_;
  event.is_final = true;
  GenerateFinal& f = event.final;
  f.reason = reason;
  f.message = std::move(message);
  f.prompt_tokens = num_prompt_tokens();
  f.generated_tokens = num_generated_;
  f.queue_time = first_scheduled_.value_or(now) - submit_time_;
  f.time_to_first_token = first_token_.has_value() ? *first_token_ - submit_time_ : absl::ZeroDuration();
  f.total_time = now - submit_time_;
  return event;
}

}  // namespace hobbit::runtime
