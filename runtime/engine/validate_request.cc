#include "runtime/engine/validate_request.h"

#include <string_view>

#include "absl/strings/str_format.h"
#include "runtime/sampling/sampling_params.h"

namespace hobbit::runtime {
namespace {

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

absl::Status CheckTokenIds(const std::vector<int32_t>& ids, std::string_view field, int32_t n_vocab) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= n_vocab) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s[%d]: token id %d is out of range [0, %d)", field, i, ids[i], n_vocab));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLength(const GenerateRequest& r, const RequestLimits& limits) {
  if (r.max_tokens < 1 || r.max_tokens > limits.max_tokens_limit) {
    return absl::InvalidArgumentError(absl::StrFormat("max_tokens: %d is out of range [1, %d]",
                                                      r.max_tokens, limits.max_tokens_limit));
  }
  const int64_t n_prompt = static_cast<int64_t>(r.prompt_tokens.size());
  const int32_t max_context = limits.scheduler.max_context;
  if (n_prompt >= max_context) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "prompt_tokens: %d tokens leave no room to generate in the context limit of %d tokens "
        "(at most %d prompt tokens)",
        n_prompt, max_context, max_context - 1));
  }
  if (n_prompt + r.max_tokens > max_context) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_tokens: %d with %d prompt tokens exceeds the context limit of %d tokens (at most %d "
        "for this prompt)",
        r.max_tokens, n_prompt, max_context, max_context - n_prompt));
  }
  // Whether the KV cache could hold it at all.
  return Scheduler::CheckFits(limits.scheduler, limits.num_kv_blocks, static_cast<int32_t>(n_prompt),
                              r.max_tokens);
}

absl::Status CheckStops(const GenerateRequest& r, const RequestLimits& limits) {
  if (r.stop_strings.size() > static_cast<size_t>(limits.max_stop_strings)) {
    return absl::InvalidArgumentError(absl::StrFormat("stop_strings: %d strings, at most %d allowed",
                                                      r.stop_strings.size(), limits.max_stop_strings));
  }
  for (size_t i = 0; i < r.stop_strings.size(); ++i) {
    const std::string& s = r.stop_strings[i];
    if (s.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("stop_strings[%d]: empty; a stop string needs at least 1 byte", i));
    }
    if (s.size() > static_cast<size_t>(limits.max_stop_string_bytes)) {
      return absl::InvalidArgumentError(absl::StrFormat("stop_strings[%d]: %d bytes, at most %d allowed", i,
                                                        s.size(), limits.max_stop_string_bytes));
    }
    if (!IsValidUtf8(s)) {
      return absl::InvalidArgumentError(absl::StrFormat("stop_strings[%d]: not valid UTF-8", i));
    }
  }
  return CheckTokenIds(r.stop_token_ids, "stop_token_ids", limits.n_vocab);
}

}  // namespace

absl::Status ValidateGenerateRequest(const GenerateRequest& r, const RequestLimits& limits) {
  if (r.prompt_tokens.empty()) {
    return absl::InvalidArgumentError("prompt_tokens: empty; at least 1 token is required");
  }
  if (absl::Status s = CheckTokenIds(r.prompt_tokens, "prompt_tokens", limits.n_vocab); !s.ok()) return s;
  if (absl::Status s = CheckLength(r, limits); !s.ok()) return s;
  if (absl::Status s = ValidateSamplingParams(r.sampling); !s.ok()) return s;
  if (absl::Status s = CheckStops(r, limits); !s.ok()) return s;
  if (r.top_logprobs < 0 || r.top_logprobs > kMaxTopLogprobs) {
    return absl::InvalidArgumentError(
        absl::StrFormat("top_logprobs: %d is out of range [0, %d]", r.top_logprobs, kMaxTopLogprobs));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
