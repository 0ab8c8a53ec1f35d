#include "runtime/sampling/sampler.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/sampling/internal/random_engine.h"

namespace hobbit::runtime {
namespace {

SamplingParams Greedy() {
  SamplingParams params;
  params.temperature = 0.0f;
  return params;
}

std::vector<float> RandomLogits(int32_t vocab, uint64_t seed) {
  internal::RandomEngine rng(seed);
  std::vector<float> logits(vocab);
  for (float& l : logits) l = static_cast<float>(rng.NextDouble() * 8.0 - 4.0);
  return logits;
}

// Softmax of logits / temperature over `keep` (all tokens if empty), in double.
std::vector<double> Softmax(const std::vector<float>& logits, double temperature,
                            const std::set<int32_t>& keep = {}) {
  std::vector<double> p(logits.size(), 0.0);
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!keep.empty() && !keep.count(static_cast<int32_t>(i))) continue;
    p[i] = std::exp(logits[i] / temperature);
    total += p[i];
  }
  for (double& x : p) x /= total;
  return p;
}

// Counts of `draws` samples, each from a fresh sampler seeded differently, so that every draw
// uses the first random number of its stream.
std::vector<int> Histogram(const SamplingParams& base, const std::vector<float>& logits,
                           int draws, uint64_t first_seed) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    SamplingParams params = base;
    params.seed = first_seed + static_cast<uint64_t>(i);
    Sampler sampler(params, static_cast<int32_t>(logits.size()));
    ++counts[sampler.Sample(logits)];
  }
  return counts;
}

// Max |observed - expected| frequency and the chi-square statistic over the expected > 0 bins;
// tokens with expected probability 0 must never be drawn.
void ExpectMatchesDistribution(const std::vector<int>& counts, const std::vector<double>& probs,
                               double chi_square_limit) {
  int total = 0;
  for (int c : counts) total += c;
  double chi_square = 0.0;
  double max_error = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (probs[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should have been filtered";
      continue;
    }
    const double expected = probs[i] * total;
    chi_square += (counts[i] - expected) * (counts[i] - expected) / expected;
    max_error = std::max(max_error, std::abs(counts[i] / static_cast<double>(total) - probs[i]));
  }
  EXPECT_LT(max_error, 0.012);
  EXPECT_LT(chi_square, chi_square_limit);
}

TEST(SamplerTest, GreedyPicksTheArgmax) {
  Sampler sampler(Greedy(), 5);
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.1f, 2.0f, -3.0f, 1.9f, 0.0f}), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{5.0f, 2.0f, -3.0f, 1.9f, 0.0f}), 0);
}

TEST(SamplerTest, GreedyTiesGoToTheLowestId) {
  Sampler sampler(Greedy(), 4);
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 3.0f, 1.0f, 3.0f}), 1);
}

TEST(SamplerTest, GreedyIgnoresTheSeed) {
  const std::vector<float> logits = RandomLogits(100, 5);
  SamplingParams params = Greedy();
  params.seed = 1;
  const int32_t first = Sampler(params, 100).Sample(logits);
  for (uint64_t seed = 2; seed < 20; ++seed) {
    params.seed = seed;
    EXPECT_EQ(Sampler(params, 100).Sample(logits), first);
  }
}

TEST(SamplerTest, TinyTemperatureIsAlmostGreedy) {
  const std::vector<float> logits = {1.0f, 2.0f, 1.998f, -1.0f};
  SamplingParams params;
  params.temperature = 1e-4f;  // the runner-up weighs exp(-0.002 / 1e-4) = 2e-9
  const std::vector<int> counts = Histogram(params, logits, 2000, 100);
  EXPECT_EQ(counts[1], 2000);
}

TEST(SamplerTest, TinyTemperatureSplitsTiesWhereGreedyDoesNot) {
  const std::vector<float> logits = {3.0f, 0.0f, 3.0f};
  SamplingParams params;
  params.temperature = 1e-6f;
  const std::vector<int> counts = Histogram(params, logits, 2000, 100);
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[0], 1000, 150);
  EXPECT_NEAR(counts[2], 1000, 150);
  EXPECT_EQ(Histogram(Greedy(), logits, 100, 100)[0], 100);
}

TEST(SamplerTest, TopKOneIsGreedy) {
  for (uint64_t trial = 0; trial < 50; ++trial) {
    const std::vector<float> logits = RandomLogits(1000, trial);
    SamplingParams params;
    params.top_k = 1;
    params.temperature = 1.5f;
    params.seed = trial;
    EXPECT_EQ(Sampler(params, 1000).Sample(logits), Sampler(Greedy(), 1000).Sample(logits));
  }
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  auto run = [](uint64_t seed) {
    SamplingParams params;
    params.seed = seed;
    params.top_p = 0.95f;
    params.repetition_penalty = 1.1f;
    Sampler sampler(params, 64);
    std::vector<int32_t> tokens;
    for (uint64_t step = 0; step < 200; ++step) {
      tokens.push_back(sampler.Sample(RandomLogits(64, step)));
      sampler.Accept(tokens.back());
    }
    return tokens;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  EXPECT_NE(run(0), run(1));
}

// Chi-square critical values at p = 1e-4 (so a wrong sampler fails and a right one, with these
// fixed seeds, passes): 23.5 for 4 degrees of freedom, 18.4 for 2.
TEST(SamplerTest, DrawsFollowTheSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
  SamplingParams params;
  ExpectMatchesDistribution(Histogram(params, logits, 20000, 1000), Softmax(logits, 1.0), 23.5);
}

TEST(SamplerTest, DrawsFromOneSamplerFollowTheSoftmaxAtTemperature) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
  SamplingParams params;
  params.temperature = 0.7f;
  params.seed = 99;
  Sampler sampler(params, 5);
  std::vector<int> counts(5, 0);
  for (int i = 0; i < 20000; ++i) ++counts[sampler.Sample(logits)];
  ExpectMatchesDistribution(counts, Softmax(logits, 0.7), 23.5);
}

TEST(SamplerTest, TopKThenTemperatureRenormalizes) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f};
  SamplingParams params;
  params.temperature = 2.0f;
  params.top_k = 3;
  ExpectMatchesDistribution(Histogram(params, logits, 20000, 5000),
                            Softmax(logits, 2.0, {4, 1, 0}), 18.4);
}

TEST(SamplerTest, TopPAppliesAfterTemperature) {
  // At temperature 1 the probabilities are 0.5, 0.25, 0.15, 0.1 and top_p 0.7 keeps two
  // tokens; at temperature 3 they flatten to about 0.32, 0.25, 0.22, 0.20 and 0.7 needs three.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.25f), std::log(0.15f),
                                     std::log(0.1f)};
  SamplingParams params;
  params.top_p = 0.7f;
  ExpectMatchesDistribution(Histogram(params, logits, 20000, 1),
                            Softmax(logits, 1.0, {0, 1}), 15.1);  // 1 dof
  params.temperature = 3.0f;
  ExpectMatchesDistribution(Histogram(params, logits, 20000, 1),
                            Softmax(logits, 3.0, {0, 1, 2}), 18.4);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 and min_p 0.2: the threshold is 0.1.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplingParams params;
  params.min_p = 0.2f;
  ExpectMatchesDistribution(Histogram(params, logits, 20000, 77),
                            Softmax(logits, 1.0, {0, 1, 2}), 18.4);
}

TEST(SamplerTest, RepetitionPenaltyFlipsTheArgmax) {
  const std::vector<float> logits = {2.0f, 1.5f};
  SamplingParams params = Greedy();
  params.repetition_penalty = 2.0f;  // 2 / 2 = 1 < 1.5
  Sampler strong(params, 2);
  strong.Accept(0);
  EXPECT_EQ(strong.Sample(logits), 1);
  params.repetition_penalty = 1.2f;  // 2 / 1.2 = 1.67 > 1.5
  Sampler weak(params, 2);
  weak.Accept(0);
  EXPECT_EQ(weak.Sample(logits), 0);
}

TEST(SamplerTest, RepetitionPenaltyPushesNegativeLogitsDown) {
  const std::vector<float> logits = {-1.0f, -1.5f};
  SamplingParams params = Greedy();
  params.repetition_penalty = 1.6f;  // -1 * 1.6 = -1.6 < -1.5
  Sampler sampler(params, 2);
  sampler.Accept(0);
  EXPECT_EQ(sampler.Sample(logits), 1);
}

TEST(SamplerTest, PresencePenaltyIsSubtractedOnce) {
  const std::vector<float> logits = {2.0f, 1.5f};
  for (auto [presence, expected] : std::vector<std::pair<float, int32_t>>{{0.6f, 1}, {0.4f, 0}}) {
    SamplingParams params = Greedy();
    params.presence_penalty = presence;
    Sampler sampler(params, 2);
    for (int i = 0; i < 5; ++i) sampler.Accept(0);  // five occurrences, one subtraction
    EXPECT_EQ(sampler.Sample(logits), expected) << presence;
  }
}

TEST(SamplerTest, FrequencyPenaltyScalesWithTheCount) {
  const std::vector<float> logits = {2.0f, 1.5f};
  for (auto [frequency, expected] :
       std::vector<std::pair<float, int32_t>>{{0.2f, 1}, {0.1f, 0}}) {  // 2 - 3f vs 1.5
    SamplingParams params = Greedy();
    params.frequency_penalty = frequency;
    Sampler sampler(params, 2);
    for (int i = 0; i < 3; ++i) sampler.Accept(0);
    EXPECT_EQ(sampler.Sample(logits), expected) << frequency;
  }
}

TEST(SamplerTest, PenaltiesOnlySeeTheWindow) {
  const std::vector<float> logits = {2.0f, 1.5f};
  SamplingParams params = Greedy();
  params.repetition_penalty = 2.0f;
  params.penalty_last_n = 1;
  Sampler sampler(params, 2);
  sampler.Accept(0);
  sampler.Accept(1);  // pushes 0 out of the window; 1.5 / 2 = 0.75
  EXPECT_EQ(sampler.Sample(logits), 0);
  params.penalty_last_n = 0;
  Sampler off(params, 2);
  off.Accept(0);
  EXPECT_EQ(off.Sample(logits), 0);
}

TEST(SamplerTest, NanLogitsAreNeverPicked) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> logits = {nan, 0.0f, nan, -0.5f};
  EXPECT_EQ(Sampler(Greedy(), 4).Sample(logits), 1);
  const std::vector<int> counts = Histogram(SamplingParams{}, logits, 500, 3);
  EXPECT_EQ(counts[0] + counts[2], 0);
}

TEST(SamplerTest, AllMaskedGivesTokenZero) {
  const float inf = std::numeric_limits<float>::infinity();
  SamplingParams params;
  params.top_p = 0.5f;
  Sampler sampler(params, 3);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-inf, -inf, -inf}), 0);
  EXPECT_EQ(sampler.last_logprob(), -inf);
}

TEST(SamplerTest, InfiniteLogitWins) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Sampler(SamplingParams{}, 3).Sample(std::vector<float>{0.0f, inf, 1.0f}), 1);
}

TEST(SamplerTest, OutOfRangeAcceptedTokensAreIgnored) {
  SamplingParams params = Greedy();
  params.repetition_penalty = 100.0f;
  Sampler sampler(params, 2);
  sampler.Accept(-1);
  sampler.Accept(2);
  EXPECT_EQ(sampler.Sample(std::vector<float>{2.0f, 1.5f}), 0);
}

TEST(SamplerTest, LastLogprobIsTheRawLogSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f};
  SamplingParams params;
  params.temperature = 0.3f;  // must not change the reported logprob
  params.seed = 5;
  Sampler sampler(params, 3);
  const std::vector<double> probs = Softmax(logits, 1.0);
  for (int i = 0; i < 20; ++i) {
    const int32_t token = sampler.Sample(logits);
    EXPECT_NEAR(sampler.last_logprob(), std::log(probs[token]), 1e-6);
  }
}

TEST(SamplerTest, TopLogprobsAreSortedAndClamped) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 2.0f};
  const Sampler sampler(SamplingParams{}, 4);
  const std::vector<double> probs = Softmax(logits, 1.0);
  const auto top = sampler.TopLogprobs(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 3);
  EXPECT_EQ(top[2].first, 0);
  for (const auto& [token, logprob] : top) EXPECT_NEAR(logprob, std::log(probs[token]), 1e-6);
  EXPECT_EQ(sampler.TopLogprobs(logits, 10).size(), 4u);
  EXPECT_TRUE(sampler.TopLogprobs(logits, -1).empty());
  const auto tie = sampler.TopLogprobs(std::vector<float>{0.0f, 0.0f}, 1);
  ASSERT_EQ(tie.size(), 1u);
  EXPECT_EQ(tie[0].first, 0);
  EXPECT_NEAR(tie[0].second, std::log(0.5), 1e-7);
}

}  // namespace
}  // namespace hobbit::runtime
