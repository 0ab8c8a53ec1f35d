#include "runtime/sampling/internal/penalty_window.h"

#include <vector>

#include "gtest/gtest.h"

namespace hobbit::runtime::internal {
namespace {

std::vector<float> Penalized(PenaltyWindow& window, float repetition, float presence,
                             float frequency) {
  std::vector<Candidate> candidates = {{0, 2.0f, 0}, {1, -1.0f, 0}, {2, 0.5f, 0}, {3, 3.0f, 0}};
  window.Apply(candidates, repetition, presence, frequency);
  std::vector<float> logits;
  for (const Candidate& c : candidates) logits.push_back(c.logit);
  return logits;
}

PenaltyWindow WindowOf(int32_t last_n, const std::vector<int32_t>& tokens) {
  PenaltyWindow window(last_n);
  for (int32_t t : tokens) window.Push(t);
  return window;
}

TEST(PenaltyWindowTest, RepetitionDividesPositiveAndMultipliesNegative) {
  PenaltyWindow window = WindowOf(64, {0, 1, 0});
  const std::vector<float> out = Penalized(window, 2.0f, 0.0f, 0.0f);
  EXPECT_FLOAT_EQ(out[0], 1.0f);   // 2 / 2, once however often it occurred
  EXPECT_FLOAT_EQ(out[1], -2.0f);  // -1 * 2
  EXPECT_FLOAT_EQ(out[2], 0.5f);
  EXPECT_FLOAT_EQ(out[3], 3.0f);
}

TEST(PenaltyWindowTest, PresenceSubtractsOnce) {
  PenaltyWindow window = WindowOf(64, {0, 1, 0});
  const std::vector<float> out = Penalized(window, 1.0f, 0.5f, 0.0f);
  EXPECT_FLOAT_EQ(out[0], 1.5f);
  EXPECT_FLOAT_EQ(out[1], -1.5f);
  EXPECT_FLOAT_EQ(out[3], 3.0f);
}

TEST(PenaltyWindowTest, FrequencySubtractsPerOccurrence) {
  PenaltyWindow window = WindowOf(64, {0, 1, 0});
  const std::vector<float> out = Penalized(window, 1.0f, 0.0f, 0.25f);
  EXPECT_FLOAT_EQ(out[0], 1.5f);    // 2 - 2 * 0.25
  EXPECT_FLOAT_EQ(out[1], -1.25f);  // -1 - 1 * 0.25
}

TEST(PenaltyWindowTest, AllThreeInLlamaCppOrder) {
  PenaltyWindow window = WindowOf(64, {0, 1, 0});
  const std::vector<float> out = Penalized(window, 2.0f, 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(out[0], 0.0f);    // 2 / 2 - (2 * 0.25 + 0.5)
  EXPECT_FLOAT_EQ(out[1], -2.75f);  // -1 * 2 - (1 * 0.25 + 0.5)
  EXPECT_FLOAT_EQ(out[2], 0.5f);
}

TEST(PenaltyWindowTest, WindowForgetsOldTokens) {
  PenaltyWindow window = WindowOf(2, {0, 1, 0, 3});
  EXPECT_EQ(window.CountOf(0), 1);
  EXPECT_EQ(window.CountOf(1), 0);
  EXPECT_EQ(window.CountOf(3), 1);
  const std::vector<float> out = Penalized(window, 1.0f, 0.0f, 1.0f);
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], -1.0f);
  EXPECT_FLOAT_EQ(out[3], 2.0f);
}

TEST(PenaltyWindowTest, MinusOneKeepsEverythingAndZeroNothing) {
  std::vector<int32_t> tokens(1000, 2);
  EXPECT_EQ(WindowOf(-1, tokens).CountOf(2), 1000);
  EXPECT_EQ(WindowOf(0, tokens).CountOf(2), 0);
  EXPECT_EQ(WindowOf(10, tokens).CountOf(2), 10);
}

TEST(PenaltyWindowTest, IgnoresTokensOutsideTheLogits) {
  PenaltyWindow window = WindowOf(64, {-5, 4, 100000});
  const std::vector<float> out = Penalized(window, 2.0f, 1.0f, 1.0f);
  EXPECT_EQ(out, (std::vector<float>{2.0f, -1.0f, 0.5f, 3.0f}));
}

}  // namespace
}  // namespace hobbit::runtime::internal
