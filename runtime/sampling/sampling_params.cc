#include "runtime/sampling/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hobbit::runtime {
namespace {

absl::Status OutOfRange(const char* field, const char* range, float value) {
  return absl::InvalidArgumentError(
      absl::StrCat("sampling parameter ", field, " must be ", range, ", got ", value));
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params) {
  // Each test is written so that NaN fails it (every comparison with NaN is false).
  if (!(params.temperature >= 0.0f && std::isfinite(params.temperature))) {
    return OutOfRange("temperature", "a finite number >= 0 (0 = greedy)", params.temperature);
  }
  if (params.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling parameter top_k must be >= 0 (0 = off), got ", params.top_k));
  }
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
    return OutOfRange("top_p", "in (0, 1] (1 = off)", params.top_p);
  }
  if (!(params.min_p >= 0.0f && params.min_p < 1.0f)) {
    return OutOfRange("min_p", "in [0, 1) (0 = off)", params.min_p);
  }
  if (!(params.repetition_penalty > 0.0f && std::isfinite(params.repetition_penalty))) {
    return OutOfRange("repetition_penalty", "a finite number > 0 (1 = off)",
                      params.repetition_penalty);
  }
  if (!std::isfinite(params.presence_penalty)) {
    return OutOfRange("presence_penalty", "a finite number (0 = off)", params.presence_penalty);
  }
  if (!std::isfinite(params.frequency_penalty)) {
    return OutOfRange("frequency_penalty", "a finite number (0 = off)", params.frequency_penalty);
  }
  if (params.penalty_last_n < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling parameter penalty_last_n must be >= -1 (-1 = whole context, 0 = off), got ",
        params.penalty_last_n));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
