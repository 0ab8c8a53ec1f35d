#include "runtime/sampling/sampling_params.h"

#include <cmath>
#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hobbit::runtime {
namespace {

using ::testing::HasSubstr;

void ExpectRejected(const std::function<void(SamplingParams&)>& change, const std::string& field,
                    const std::string& range) {
  SamplingParams params;
  change(params);
  const absl::Status status = ValidateSamplingParams(params);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_THAT(std::string(status.message()), HasSubstr(field));
  EXPECT_THAT(std::string(status.message()), HasSubstr(range));
}

TEST(SamplingParamsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}).ok());
}

TEST(SamplingParamsTest, AcceptsBoundaryValues) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_k = 1;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.repetition_penalty = 1e-3f;
  params.presence_penalty = -2.0f;
  params.frequency_penalty = 2.0f;
  params.penalty_last_n = -1;
  EXPECT_TRUE(ValidateSamplingParams(params).ok());
  params.top_p = 1e-6f;
  params.min_p = 0.999f;
  params.penalty_last_n = 0;
  EXPECT_TRUE(ValidateSamplingParams(params).ok());
}

TEST(SamplingParamsTest, RejectsTemperature) {
  ExpectRejected([](SamplingParams& p) { p.temperature = -0.1f; }, "temperature", ">= 0");
  ExpectRejected([](SamplingParams& p) { p.temperature = NAN; }, "temperature", ">= 0");
  ExpectRejected([](SamplingParams& p) { p.temperature = INFINITY; }, "temperature", "finite");
}

TEST(SamplingParamsTest, RejectsTopK) {
  ExpectRejected([](SamplingParams& p) { p.top_k = -1; }, "top_k", ">= 0");
}

TEST(SamplingParamsTest, RejectsTopP) {
  ExpectRejected([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p", "(0, 1]");
  ExpectRejected([](SamplingParams& p) { p.top_p = 1.01f; }, "top_p", "(0, 1]");
  ExpectRejected([](SamplingParams& p) { p.top_p = -0.5f; }, "top_p", "(0, 1]");
  ExpectRejected([](SamplingParams& p) { p.top_p = NAN; }, "top_p", "(0, 1]");
}

TEST(SamplingParamsTest, RejectsMinP) {
  ExpectRejected([](SamplingParams& p) { p.min_p = -0.01f; }, "min_p", "[0, 1)");
  ExpectRejected([](SamplingParams& p) { p.min_p = 1.0f; }, "min_p", "[0, 1)");
  ExpectRejected([](SamplingParams& p) { p.min_p = NAN; }, "min_p", "[0, 1)");
}

TEST(SamplingParamsTest, RejectsRepetitionPenalty) {
  ExpectRejected([](SamplingParams& p) { p.repetition_penalty = 0.0f; }, "repetition_penalty",
                 "> 0");
  ExpectRejected([](SamplingParams& p) { p.repetition_penalty = -1.0f; }, "repetition_penalty",
                 "> 0");
  ExpectRejected([](SamplingParams& p) { p.repetition_penalty = NAN; }, "repetition_penalty",
                 "> 0");
  ExpectRejected([](SamplingParams& p) { p.repetition_penalty = INFINITY; },
                 "repetition_penalty", "finite");
}

TEST(SamplingParamsTest, RejectsNonFinitePresenceAndFrequency) {
  ExpectRejected([](SamplingParams& p) { p.presence_penalty = NAN; }, "presence_penalty",
                 "finite");
  ExpectRejected([](SamplingParams& p) { p.frequency_penalty = -INFINITY; }, "frequency_penalty",
                 "finite");
}

TEST(SamplingParamsTest, RejectsPenaltyLastN) {
  ExpectRejected([](SamplingParams& p) { p.penalty_last_n = -2; }, "penalty_last_n", ">= -1");
}

TEST(SamplingParamsTest, MessageCarriesTheValue) {
  SamplingParams params;
  params.top_p = 1.5f;
  EXPECT_THAT(std::string(ValidateSamplingParams(params).message()), HasSubstr("1.5"));
}

}  // namespace
}  // namespace hobbit::runtime
