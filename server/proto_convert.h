// Conversion between the hobbit.v1 API messages and the runtime's types, with the validation of
// every request field. This is the only file that knows both sides.
//
//   HOBBIT_ASSIGN_OR_RETURN(runtime::GenerateRequest engine_request,
//                           ToEngineRequest(proto_request, limits, encoder));
//
// Every error is InvalidArgument whose message starts with the field's name (as in the .proto,
// with list indexes: "tokens.ids[3]", "chat.messages[1].content", "stop[0]") followed by what is
// allowed and what was sent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hobbit/v1/hobbit.pb.h"
#include "runtime/engine/engine_options.h"
#include "runtime/engine/generate_types.h"
#include "server/prompt_encoder.h"

namespace hobbit::runtime {
struct ModelConfig;
}  // namespace hobbit::runtime

namespace hobbit::server {

// The bounds a request is checked against (from the configuration and the model).
struct RequestLimits {
  int32_t vocab_size = 0;
  int32_t max_context = 0;       // prompt + generated tokens per sequence
  int32_t max_tokens_limit = 0;  // largest max_tokens
  int32_t max_stop_strings = 0;
  int32_t max_stop_string_bytes = 0;
};

// Limits the API adds on its own.
inline constexpr int32_t kMaxTopLogprobs = 20;
inline constexpr int32_t kMaxStopTokenIds = 64;
inline constexpr size_t kMaxRequestIdBytes = 128;
inline constexpr int32_t kMaxChatMessages = 1024;

// The effective limits of an engine with these options serving this model.
RequestLimits MakeRequestLimits(const runtime::EngineOptions& options,
                                const runtime::ModelConfig& model);

// Validates `request` and tokenizes its input.
absl::StatusOr<runtime::GenerateRequest> ToEngineRequest(const hobbit::v1::GenerateRequest& request,
                                                         const RequestLimits& limits,
                                                         const PromptEncoder& encoder);

// Validates a TokenizeRequest's text and tokenizes it.
absl::StatusOr<std::vector<int32_t>> TokenizeText(const hobbit::v1::TokenizeRequest& request,
                                                  const PromptEncoder& encoder);

// Appends an engine chunk to a (possibly non-empty) proto chunk: consecutive chunks that wait
// for the same write are merged.
void AppendChunk(const runtime::GenerateChunk& chunk, hobbit::v1::Chunk* out);

void ToProtoFinal(const runtime::GenerateFinal& final, hobbit::v1::Final* out);
void ToProtoExpertStats(const runtime::SequenceExpertStats& stats, hobbit::v1::ExpertStats* out);
void ToProtoCacheStats(const runtime::EngineStats& stats, hobbit::v1::GetCacheStatsResponse* out);
void ToProtoModelInfo(const runtime::ModelConfig& model, const runtime::EngineOptions& options,
                      const RequestLimits& limits, bool has_chat_template,
                      hobbit::v1::GetModelInfoResponse* out);

// Spelling used in logs ("stop", "length", ...).
absl::string_view FinishReasonName(runtime::FinishReason reason);

}  // namespace hobbit::server
