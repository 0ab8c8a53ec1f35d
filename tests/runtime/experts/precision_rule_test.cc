// The token-level rule and the batch rule on hand-computed routing cases
// (hobbit-algorithms.md §1: T1 = 0.6, T2 = 0.9 by default; for top-2 the second expert is high
// if its own weight >= 0.4, low in [0.1, 0.4), skipped below 0.1).
#include "runtime/experts/precision_rule.h"

#include <vector>

#include "gtest/gtest.h"

namespace hobbit::runtime {
namespace {

std::vector<LoadDecision> Decide(const std::vector<float>& w, bool normalized, PrecisionThresholds t = {}) {
  std::vector<float> s(w.size());
  UnimportanceScores(w.data(), static_cast<int32_t>(w.size()), normalized, s.data());
  std::vector<LoadDecision> d;
  for (float score : s) d.push_back(DecideMiss(score, t));
  return d;
}

constexpr LoadDecision H = LoadDecision::kHigh;
constexpr LoadDecision L = LoadDecision::kLow;
constexpr LoadDecision S = LoadDecision::kSkip;

TEST(PrecisionRuleTest, ScoresAreTheMassOfMoreImportantExperts) {
  const std::vector<float> w = {0.5f, 0.25f, 0.125f, 0.125f};
  std::vector<float> s(4);
  UnimportanceScores(w.data(), 4, true, s.data());
  EXPECT_EQ(s, (std::vector<float>{0.0f, 0.5f, 0.75f, 0.875f}));
}

TEST(PrecisionRuleTest, TopTwoCases) {
  EXPECT_EQ(Decide({0.7f, 0.3f}, true), (std::vector<LoadDecision>{H, L}));    // s1 = 0.7
  EXPECT_EQ(Decide({0.95f, 0.05f}, true), (std::vector<LoadDecision>{H, S}));  // s1 = 0.95 > T2
  EXPECT_EQ(Decide({0.5f, 0.5f}, true), (std::vector<LoadDecision>{H, H}));    // s1 = 0.5 <= T1
  EXPECT_EQ(Decide({0.6f, 0.4f}, true), (std::vector<LoadDecision>{H, H}));    // s1 = T1: high
  EXPECT_EQ(Decide({0.9f, 0.1f}, true), (std::vector<LoadDecision>{H, L}));    // s1 = T2: low
}

TEST(PrecisionRuleTest, UnnormalizedWeightsAreNormalizedForTheScoreOnly) {
  // Sum 0.8: normalized weights 0.5, 0.25, 0.125, 0.125 -> scores 0, 0.5, 0.75, 0.875.
  EXPECT_EQ(Decide({0.4f, 0.2f, 0.1f, 0.1f}, false), (std::vector<LoadDecision>{H, H, L, L}));
  // Taken as already normalized: scores 0, 0.4, 0.6, 0.7.
  EXPECT_EQ(Decide({0.4f, 0.2f, 0.1f, 0.1f}, true), (std::vector<LoadDecision>{H, H, H, L}));
}

TEST(PrecisionRuleTest, QualityNeverLoadsLowNorSkips) {
  // Eight experts whose float sums round above 1 still load high under T1 = T2 = 1.
  const std::vector<float> w(8, 0.125000015f);
  for (LoadDecision d : Decide(w, true, {1.0f, 1.0f})) EXPECT_EQ(d, H);
  EXPECT_EQ(Decide({0.999f, 0.001f}, true, {1.0f, 1.0f}), (std::vector<LoadDecision>{H, H}));
}

TEST(PrecisionRuleTest, SpeedThresholds) {
  // speed defaults T1 = 0.4, T2 = 0.7: s1 = 0.6 -> low; s1 = 0.75 -> skip.
  ExpertOptions o;
  const PrecisionThresholds t = ThresholdsFor(o, ExpertPolicy::kSpeed);
  EXPECT_EQ(Decide({0.6f, 0.4f}, true, t), (std::vector<LoadDecision>{H, L}));
  EXPECT_EQ(Decide({0.75f, 0.25f}, true, t), (std::vector<LoadDecision>{H, S}));
}

TEST(PrecisionRuleTest, BatchRuleTakesTheMostPreciseAndSkipsOnlyWhenAllSkip) {
  EXPECT_EQ(CombineDecisions(S, L), L);
  EXPECT_EQ(CombineDecisions(L, H), H);
  EXPECT_EQ(CombineDecisions(S, S), S);
}

TEST(PrecisionRuleTest, PolicyIsCappedByTheServer) {
  ExpertOptions o;
  o.fastest_policy = ExpertPolicy::kBalanced;
  const PrecisionThresholds speed = ThresholdsFor(o, ExpertPolicy::kSpeed);
  EXPECT_EQ(speed.t1, o.balanced.t1);
  EXPECT_EQ(speed.t2, o.balanced.t2);
  const PrecisionThresholds quality = ThresholdsFor(o, ExpertPolicy::kQuality);
  EXPECT_EQ(quality.t1, 1.0f);
  EXPECT_EQ(quality.t2, 1.0f);
  const PrecisionThresholds dflt = ThresholdsFor(o, std::nullopt);
  EXPECT_EQ(dflt.t1, 0.6f);
  EXPECT_EQ(dflt.t2, 0.9f);
}

TEST(PrecisionRuleTest, ParsesNames) {
  EXPECT_EQ(ParseExpertMode("ondemand-lru"), ExpertMode::kOndemandLru);
  EXPECT_EQ(ParseExpertMode("hobbit"), ExpertMode::kHobbit);
  EXPECT_EQ(ParseExpertMode("lru"), std::nullopt);
  EXPECT_EQ(ParseLowFormat("int2"), LowFormat::kInt2);
  EXPECT_EQ(ParseExpertPolicy("speed"), ExpertPolicy::kSpeed);
  EXPECT_STREQ(ExpertModeName(ExpertMode::kStaticLow), "static-low");
}

}  // namespace
}  // namespace hobbit::runtime
