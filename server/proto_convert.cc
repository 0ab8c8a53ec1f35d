#include "server/proto_convert.h"

#include <cmath>
#include <random>
#include "absl/strings/string_view.h"
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/base/kv_cache_type.h"
#include "kernels/base/status_macros.h"
#include "runtime/model/model_config.h"
#include "runtime/sampling/sampling_params.h"
#include "server/build_info.h"
#include "server/utf8_validator.h"

namespace hobbit::server {
namespace {

namespace v1 = ::hobbit::v1;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status CheckUtf8(absl::string_view field, absl::string_view text) {
  size_t bad = FindInvalidUtf8(text);
  if (bad == absl::string_view::npos) return absl::OkStatus();
  return Invalid(field, absl::StrCat("not valid UTF-8 (at byte ", bad, ")"));
}

absl::Status CheckTokenId(absl::string_view field, int32_t id, const RequestLimits& limits) {
  if (id >= 0 && id < limits.vocab_size) return absl::OkStatus();
  return Invalid(field, absl::StrCat(id, " is not a token id (allowed [0, ", limits.vocab_size, "))"));
}

absl::Status CheckFloat(absl::string_view field, float value, float lo, bool lo_open, float hi) {
  bool ok = std::isfinite(value) && (lo_open ? value > lo : value >= lo) && value <= hi;
  if (ok) return absl::OkStatus();
  return Invalid(field, absl::StrCat(value, " is out of range ", lo_open ? "(" : "[", lo, ", ", hi,
                                     "]"));
}

// A prompt of `bytes` input bytes is at least bytes / MaxBytesPerToken() tokens: refuse one that
// cannot fit the context before tokenizing it (a 16 MB text took ~1 s to tokenize only to be
// refused). Twice the bound plus a little (a dummy-prefix space, BOS), so that no prompt the
// tokenizer would fit is refused here. Text only: a chat template may drop parts of the
// messages (earlier turns' reasoning), so their bytes bound nothing.
absl::Status CheckPromptBytes(absl::string_view field, int64_t bytes, const RequestLimits& limits,
                              const PromptEncoder& encoder) {
  const int64_t per_token = encoder.MaxBytesPerToken();
  if (per_token <= 0 || bytes <= 2 * per_token * int64_t{limits.max_context} + 16) return absl::OkStatus();
  return Invalid(field, absl::StrCat("the prompt has ", bytes, " bytes, at least ", bytes / per_token,
                                     " tokens; it must be shorter than the context of ", limits.max_context,
                                     " tokens"));
}

absl::StatusOr<std::vector<int32_t>> EncodeChat(const v1::ChatMessages& chat,
                                                const PromptEncoder& encoder) {
  if (chat.messages_size() == 0) return Invalid("chat.messages", "must not be empty");
  if (chat.messages_size() > kMaxChatMessages) {
    return Invalid("chat.messages", absl::StrCat(chat.messages_size(), " messages; at most ",
                                                 kMaxChatMessages, " are allowed"));
  }
  std::vector<ChatTurn> turns;
  turns.reserve(chat.messages_size());
  for (int i = 0; i < chat.messages_size(); ++i) {
    const v1::ChatMessage& message = chat.messages(i);
    std::string field = absl::StrCat("chat.messages[", i, "]");
    if (message.role().empty()) return Invalid(field + ".role", "must not be empty");
    HOBBIT_RETURN_IF_ERROR(CheckUtf8(field + ".role", message.role()));
    HOBBIT_RETURN_IF_ERROR(CheckUtf8(field + ".content", message.content()));
    turns.push_back({message.role(), message.content()});
  }
  bool add_generation_prompt = !chat.has_add_generation_prompt() || chat.add_generation_prompt();
  absl::StatusOr<std::vector<int32_t>> ids = encoder.EncodeChat(turns, add_generation_prompt);
  if (!ids.ok() && ids.status().code() != absl::StatusCode::kInternal) {
    return Invalid("chat", ids.status().message());
  }
  return ids;
}

// Tokenizes the input and checks the prompt against the vocabulary and the context.
absl::StatusOr<std::vector<int32_t>> PromptTokens(const v1::GenerateRequest& request,
                                                  const RequestLimits& limits,
                                                  const PromptEncoder& encoder) {
  std::vector<int32_t> tokens;
  absl::string_view field;
  switch (request.input_case()) {
    case v1::GenerateRequest::kText: {
      field = "text";
      if (request.text().empty()) return Invalid(field, "must not be empty");
      HOBBIT_RETURN_IF_ERROR(CheckUtf8(field, request.text()));
      HOBBIT_RETURN_IF_ERROR(CheckPromptBytes(field, static_cast<int64_t>(request.text().size()), limits, encoder));
      HOBBIT_ASSIGN_OR_RETURN(tokens, encoder.EncodeText(request.text(), /*add_special=*/true));
      break;
    }
    case v1::GenerateRequest::kTokens: {
      field = "tokens.ids";
      const auto& ids = request.tokens().ids();
      if (ids.empty()) return Invalid(field, "must not be empty");
      if (ids.size() >= limits.max_context) break;  // reported below, before a long scan
      for (int i = 0; i < ids.size(); ++i) {
        HOBBIT_RETURN_IF_ERROR(CheckTokenId(absl::StrCat(field, "[", i, "]"), ids[i], limits));
      }
      tokens.assign(ids.begin(), ids.end());
      break;
    }
    case v1::GenerateRequest::kChat: {
      field = "chat";
      HOBBIT_ASSIGN_OR_RETURN(tokens, EncodeChat(request.chat(), encoder));
      break;
    }
    default:
      return Invalid("input", "one of text, tokens or chat is required");
  }
  int64_t n = request.input_case() == v1::GenerateRequest::kTokens ? request.tokens().ids_size()
                                                                     : tokens.size();
  if (n == 0) return Invalid(field, "gives no tokens");
  if (n >= limits.max_context) {
    return Invalid(field, absl::StrCat("the prompt has ", n, " tokens; it must be shorter than the ",
                                       "context of ", limits.max_context, " tokens"));
  }
  return tokens;
}

absl::Status ConvertSampling(const v1::GenerateRequest& r, const RequestLimits& limits,
                             runtime::SamplingParams* s) {
  if (r.has_temperature()) {
    HOBBIT_RETURN_IF_ERROR(CheckFloat("temperature", r.temperature(), 0.0f, false, 100.0f));
    s->temperature = r.temperature();
  }
  if (r.has_top_k()) {
    if (r.top_k() < 0 || r.top_k() > limits.vocab_size) {
      return Invalid("top_k", absl::StrCat(r.top_k(), " is out of range [0, ", limits.vocab_size,
                                           "]"));
    }
    s->top_k = r.top_k();
  }
  if (r.has_top_p()) {
    HOBBIT_RETURN_IF_ERROR(CheckFloat("top_p", r.top_p(), 0.0f, true, 1.0f));
    s->top_p = r.top_p();
  }
  if (r.has_min_p()) {
    if (!(std::isfinite(r.min_p()) && r.min_p() >= 0.0f && r.min_p() < 1.0f)) {
      return Invalid("min_p", absl::StrCat(r.min_p(), " is out of range [0, 1)"));
    }
    s->min_p = r.min_p();
  }
  if (r.has_repetition_penalty()) {
    HOBBIT_RETURN_IF_ERROR(
        CheckFloat("repetition_penalty", r.repetition_penalty(), 0.0f, true, 10.0f));
    s->repetition_penalty = r.repetition_penalty();
  }
  if (r.has_presence_penalty()) {
    HOBBIT_RETURN_IF_ERROR(CheckFloat("presence_penalty", r.presence_penalty(), -2.0f, false, 2.0f));
    s->presence_penalty = r.presence_penalty();
  }
  if (r.has_frequency_penalty()) {
    HOBBIT_RETURN_IF_ERROR(
        CheckFloat("frequency_penalty", r.frequency_penalty(), -2.0f, false, 2.0f));
    s->frequency_penalty = r.frequency_penalty();
  }
  s->seed = r.has_seed() ? r.seed() : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  return runtime::ValidateSamplingParams(*s);
}

absl::Status ConvertStops(const v1::GenerateRequest& r, const RequestLimits& limits,
                          runtime::GenerateRequest* out) {
  if (r.stop_size() > limits.max_stop_strings) {
    return Invalid("stop", absl::StrCat(r.stop_size(), " stop strings; at most ",
                                        limits.max_stop_strings, " are allowed"));
  }
  for (int i = 0; i < r.stop_size(); ++i) {
    std::string field = absl::StrCat("stop[", i, "]");
    const std::string& stop = r.stop(i);
    if (stop.empty()) return Invalid(field, "must not be empty");
    if (static_cast<int64_t>(stop.size()) > limits.max_stop_string_bytes) {
      return Invalid(field, absl::StrCat(stop.size(), " bytes; at most ",
                                         limits.max_stop_string_bytes, " are allowed"));
    }
    HOBBIT_RETURN_IF_ERROR(CheckUtf8(field, stop));
    out->stop_strings.push_back(stop);
  }
  if (r.stop_token_ids_size() > kMaxStopTokenIds) {
    return Invalid("stop_token_ids", absl::StrCat(r.stop_token_ids_size(), " ids; at most ",
                                                  kMaxStopTokenIds, " are allowed"));
  }
  for (int i = 0; i < r.stop_token_ids_size(); ++i) {
    HOBBIT_RETURN_IF_ERROR(
        CheckTokenId(absl::StrCat("stop_token_ids[", i, "]"), r.stop_token_ids(i), limits));
    out->stop_token_ids.push_back(r.stop_token_ids(i));
  }
  return absl::OkStatus();
}

absl::StatusOr<runtime::PrecisionPolicy> ConvertPrecisionPolicy(int value) {
  switch (value) {
    case v1::PRECISION_POLICY_UNSPECIFIED: return runtime::PrecisionPolicy::kDefault;
    case v1::PRECISION_POLICY_QUALITY: return runtime::PrecisionPolicy::kQuality;
    case v1::PRECISION_POLICY_BALANCED: return runtime::PrecisionPolicy::kBalanced;
    case v1::PRECISION_POLICY_SPEED: return runtime::PrecisionPolicy::kSpeed;
    default:
      return Invalid("precision_policy", absl::StrCat(value, " is not a PrecisionPolicy value "
                                                             "(allowed 0 to 3)"));
  }
}

absl::Status CheckRequestId(const std::string& id) {
  if (id.size() > kMaxRequestIdBytes) {
    return Invalid("request_id", absl::StrCat(id.size(), " bytes; at most ", kMaxRequestIdBytes,
                                              " are allowed"));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c == 0x7F) {  // the id is logged: no control characters
      return Invalid("request_id", absl::StrCat("control character at byte ", i));
    }
  }
  return CheckUtf8("request_id", id);
}

}  // namespace

RequestLimits MakeRequestLimits(const runtime::EngineOptions& options,
                                const runtime::ModelConfig& model) {
  RequestLimits limits;
  limits.vocab_size = model.n_vocab;
  limits.max_context = options.scheduler.max_context > 0 ? options.scheduler.max_context
                                                         : model.n_ctx_train;
  limits.max_tokens_limit = options.scheduler.max_tokens_limit;
  limits.max_stop_strings = options.scheduler.max_stop_strings;
  limits.max_stop_string_bytes = options.scheduler.max_stop_string_bytes;
  return limits;
}

absl::StatusOr<runtime::GenerateRequest> ToEngineRequest(const v1::GenerateRequest& request,
                                                         const RequestLimits& limits,
                                                         const PromptEncoder& encoder) {
  runtime::GenerateRequest out;
  HOBBIT_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  out.client_request_id = request.request_id();
  HOBBIT_RETURN_IF_ERROR(ConvertSampling(request, limits, &out.sampling));
  if (request.has_max_tokens()) {
    if (request.max_tokens() < 1 || request.max_tokens() > limits.max_tokens_limit) {
      return Invalid("max_tokens", absl::StrCat(request.max_tokens(), " is out of range [1, ",
                                                limits.max_tokens_limit, "]"));
    }
    out.max_tokens = request.max_tokens();
  } else {
    out.max_tokens = std::min(out.max_tokens, limits.max_tokens_limit);
  }
  HOBBIT_RETURN_IF_ERROR(ConvertStops(request, limits, &out));
  out.ignore_eos = request.ignore_eos();
  if (request.top_logprobs() < 0 || request.top_logprobs() > kMaxTopLogprobs) {
    return Invalid("top_logprobs", absl::StrCat(request.top_logprobs(), " is out of range [0, ",
                                                kMaxTopLogprobs, "]"));
  }
  out.top_logprobs = request.top_logprobs();
  HOBBIT_ASSIGN_OR_RETURN(out.precision_policy, ConvertPrecisionPolicy(request.precision_policy()));
  // The prompt last: tokenizing is the expensive part and the cheap checks should fail first.
  HOBBIT_ASSIGN_OR_RETURN(out.prompt_tokens, PromptTokens(request, limits, encoder));
  if (!request.has_max_tokens()) {
    // The default never makes a request the client did not size exceed the context: it is cut
    // to the room the prompt leaves (a prompt that leaves none is still named as the problem).
    const auto room = static_cast<int64_t>(limits.max_context) - static_cast<int64_t>(out.prompt_tokens.size());
    if (room >= 1 && room < out.max_tokens) out.max_tokens = static_cast<int32_t>(room);
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> TokenizeText(const v1::TokenizeRequest& request,
                                                  const PromptEncoder& encoder) {
  HOBBIT_RETURN_IF_ERROR(CheckUtf8("text", request.text()));
  bool add_special = !request.has_add_special() || request.add_special();
  return encoder.EncodeText(request.text(), add_special);
}

void AppendChunk(const runtime::GenerateChunk& chunk, v1::Chunk* out) {
  for (int32_t token : chunk.tokens) out->add_token_ids(token);
  out->mutable_text()->append(chunk.text);
  for (const runtime::TokenLogprob& lp : chunk.logprobs) {
    v1::TokenLogprob* entry = out->add_logprobs();
    entry->set_token(lp.token);
    entry->set_logprob(lp.logprob);
    for (const auto& [token, logprob] : lp.top) {
      v1::TopLogprob* alt = entry->add_top();
      alt->set_token(token);
      alt->set_logprob(logprob);
    }
  }
}

void ToProtoExpertStats(const runtime::SequenceExpertStats& s, v1::ExpertStats* out) {
  out->set_lookups(s.lookups);
  out->set_hits_high(s.hits_high);
  out->set_hits_low(s.hits_low);
  out->set_low_served_high(s.low_served_high);
  out->set_misses_high(s.misses_high);
  out->set_misses_low(s.misses_low);
  out->set_misses_skip(s.misses_skip);
  out->set_misses_host(s.misses_host);
  out->set_bytes_demand(s.bytes_demand);
  out->set_bytes_prefetch(s.bytes_prefetch);
  out->set_prefetch_issued(s.prefetch_issued);
  out->set_prefetch_used(s.prefetch_used);
  out->set_prefetch_wasted(s.prefetch_wasted);
  out->set_prefetch_late(s.prefetch_late);
  out->set_load_wait_seconds(s.load_wait_seconds);
}

void ToProtoFinal(const runtime::GenerateFinal& final, v1::Final* out) {
  switch (final.reason) {
    case runtime::FinishReason::kStop: out->set_finish_reason(v1::FINISH_REASON_STOP); break;
    case runtime::FinishReason::kLength: out->set_finish_reason(v1::FINISH_REASON_LENGTH); break;
    case runtime::FinishReason::kCancelled:
      out->set_finish_reason(v1::FINISH_REASON_CANCELLED);
      break;
    case runtime::FinishReason::kAborted: out->set_finish_reason(v1::FINISH_REASON_ABORTED); break;
    case runtime::FinishReason::kError: out->set_finish_reason(v1::FINISH_REASON_ERROR); break;
  }
  out->set_message(final.message);
  out->set_prompt_tokens(final.prompt_tokens);
  out->set_generated_tokens(final.generated_tokens);
  out->mutable_timings()->set_queue_seconds(absl::ToDoubleSeconds(final.queue_time));
  out->mutable_timings()->set_time_to_first_token_seconds(
      absl::ToDoubleSeconds(final.time_to_first_token));
  out->mutable_timings()->set_total_seconds(absl::ToDoubleSeconds(final.total_time));
  ToProtoExpertStats(final.expert_stats, out->mutable_expert_stats());
}

void ToProtoCacheStats(const runtime::EngineStats& stats, v1::GetCacheStatsResponse* out) {
  out->set_running(stats.running);
  out->set_waiting(stats.waiting);
  out->set_kv_blocks_total(stats.kv_blocks_total);
  out->set_kv_blocks_used(stats.kv_blocks_used);
  out->set_steps(stats.steps);
  out->set_prompt_tokens_total(stats.prompt_tokens_total);
  out->set_generated_tokens_total(stats.generated_tokens_total);
  out->set_requests_finished(stats.requests_finished);
  out->set_preemptions(stats.preemptions);
  ToProtoExpertStats(stats.experts, out->mutable_experts());
}

void ToProtoModelInfo(const runtime::ModelConfig& model, const runtime::EngineOptions& options,
                      const RequestLimits& limits, bool has_chat_template,
                      v1::GetModelInfoResponse* out) {
  out->set_architecture(model.architecture);
  out->set_name(model.name);
  out->set_model_path(options.model_path);
  out->set_vocab_size(model.n_vocab);
  out->set_embedding_size(model.n_embd);
  out->set_layers(model.n_layer);
  out->set_experts(model.n_expert);
  out->set_experts_used(model.n_expert_used);
  out->set_context_length_train(model.n_ctx_train);
  out->set_max_context(limits.max_context);
  out->set_max_tokens_limit(limits.max_tokens_limit);
  out->set_backend(options.backend);
  out->set_kv_cache_bytes(options.kv.cache_bytes);
  // options.backend is the backend the engine runs on (the daemon resolves "auto" before serving).
  const kernels::KvCacheType kv_type = kernels::KvCacheTypeFor(options.kv.type, options.backend);
  out->set_kv_cache_type(std::string(kernels::KvCacheTypeName(kv_type)));
  out->set_has_chat_template(has_chat_template);
  out->set_server_version(std::string(ServerVersion()));
}

absl::string_view FinishReasonName(runtime::FinishReason reason) {
  switch (reason) {
    case runtime::FinishReason::kStop: return "stop";
    case runtime::FinishReason::kLength: return "length";
    case runtime::FinishReason::kCancelled: return "cancelled";
    case runtime::FinishReason::kAborted: return "aborted";
    case runtime::FinishReason::kError: return "error";
  }
  return "unknown";
}

}  // namespace hobbit::server
