#include "runtime/sampling/internal/candidate_filters.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/sampling/internal/random_engine.h"

namespace hobbit::runtime::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// Candidates in id order whose softmax (temperature 1) is exactly `probs` up to rounding.
std::vector<Candidate> FromProbabilities(const std::vector<double>& probs) {
  std::vector<Candidate> out;
  for (size_t i = 0; i < probs.size(); ++i) {
    out.push_back({static_cast<int32_t>(i), static_cast<float>(std::log(probs[i])), 0.0f});
  }
  return out;
}

// ComputeWeights with the list's own maximum, as Sampler calls it.
void Weigh(std::vector<Candidate>& c, float temperature) {
  float max_logit = -INFINITY;
  for (const Candidate& x : c) max_logit = std::max(max_logit, x.logit);
  ComputeWeights(c, temperature, max_logit);
}

std::vector<int32_t> Ids(const std::vector<Candidate>& c, size_t n) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(c[i].id);
  return ids;
}

std::vector<int32_t> SortedIds(const std::vector<Candidate>& c, size_t n) {
  std::vector<int32_t> ids = Ids(c, n);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(CandidateFiltersTest, TopKKeepsTheLargestInOrderWithTiesToLowerId) {
  std::vector<Candidate> c = {{0, 1.0f, 0}, {1, 3.0f, 0}, {2, 2.0f, 0}, {3, 3.0f, 0}, {4, 0.0f, 0}};
  const size_t n = KeepTopK(c, 3);
  EXPECT_EQ(n, 3u);
  EXPECT_THAT(Ids(c, n), ElementsAre(1, 3, 2));
  EXPECT_EQ(KeepTopK(c, 0), 5u);
  EXPECT_EQ(KeepTopK(c, 9), 5u);
}

TEST(CandidateFiltersTest, WeightsAreTheSoftmaxUpToAFactor) {
  std::vector<Candidate> c = {{0, 1.0f, 0}, {1, 3.0f, 0}, {2, -INFINITY, 0}};
  Weigh(c, 2.0f);
  EXPECT_FLOAT_EQ(c[1].weight, 1.0f);
  EXPECT_FLOAT_EQ(c[0].weight, std::exp(-1.0f));  // (1 - 3) / 2
  EXPECT_EQ(c[2].weight, 0.0f);
}

TEST(CandidateFiltersTest, TinyTemperatureDoesNotOverflow) {
  std::vector<Candidate> c = {{0, 1.0f, 0}, {1, 1.5f, 0}};
  Weigh(c, 1e-30f);
  EXPECT_EQ(c[0].weight, 0.0f);
  EXPECT_EQ(c[1].weight, 1.0f);
}

// Probabilities 0.5, 0.25, 0.15, 0.1 (ids 2, 0, 3, 1): the cumulative mass in order of
// likelihood is 0.5, 0.75, 0.9, 1.0.
std::vector<Candidate> TopPCase() { return FromProbabilities({0.25, 0.1, 0.5, 0.15}); }

TEST(CandidateFiltersTest, TopPKeepsTheSmallestSetReachingTheMass) {
  struct Case {
    float top_p;
    std::vector<int32_t> kept;  // in MoreLikely order
  };
  std::vector<Candidate> scratch;
  for (const Case& test : std::vector<Case>{{0.3f, {2}},
                                            {0.5f - 1e-4f, {2}},
                                            {0.7f, {2, 0}},
                                            {0.76f, {2, 0, 3}},
                                            {0.89f, {2, 0, 3}},
                                            {0.95f, {2, 0, 3, 1}},
                                            {1.0f, {2, 0, 3, 1}}}) {
    // Sorted input is cut to a prefix in that order.
    std::vector<Candidate> c = TopPCase();
    std::sort(c.begin(), c.end(), MoreLikely);
    Weigh(c, 1.0f);
    size_t n = KeepTopP(c, test.top_p, /*sorted=*/true, scratch);
    EXPECT_EQ(Ids(c, n), test.kept) << "top_p=" << test.top_p;
    // Unsorted input keeps the same set in id order.
    c = TopPCase();
    Weigh(c, 1.0f);
    n = KeepTopP(c, test.top_p, /*sorted=*/false, scratch);
    std::vector<int32_t> expected = test.kept;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(Ids(c, n), expected) << "top_p=" << test.top_p;
  }
}

TEST(CandidateFiltersTest, TopPBreaksTiesByLowerId) {
  // Probabilities 0.2 (ids 4, 1, 3: equal logits), 0.3 (id 2), 0.1 (id 0): in MoreLikely
  // order 2, 1, 3, 4, 0 with cumulative mass 0.3, 0.5, 0.7, 0.9, 1.0.
  std::vector<Candidate> scratch;
  for (float top_p : {0.6f, 0.65f}) {
    std::vector<Candidate> c = FromProbabilities({0.1, 0.2, 0.3, 0.2, 0.2});
    Weigh(c, 1.0f);
    const size_t n = KeepTopP(c, top_p, /*sorted=*/false, scratch);
    EXPECT_EQ(Ids(c, n), (std::vector<int32_t>{1, 2, 3})) << top_p;
  }
}

TEST(CandidateFiltersTest, TopPOnALargeVocabularyMatchesAFullSort) {
  // A flat distribution over many candidates, so that the quickselect has to go many rounds
  // and the kept set is large; and a peaked one, where it is small.
  for (double scale : {3.0, 30.0}) {
    RandomEngine rng(7);
    std::vector<Candidate> c;
    for (int32_t i = 0; i < 5000; ++i) {
      c.push_back({i, static_cast<float>(rng.NextDouble() * scale), 0.0f});
    }
    Weigh(c, 1.0f);
    std::vector<Candidate> reference = c;
    std::sort(reference.begin(), reference.end(), MoreLikely);
    double total = 0.0;
    for (const Candidate& r : reference) total += r.weight;
    double cumulative = 0.0;
    size_t expected = 0;
    while (cumulative < static_cast<double>(0.8f) * total) {
      cumulative += reference[expected++].weight;
    }

    std::vector<Candidate> scratch;
    const size_t n = KeepTopP(c, 0.8f, /*sorted=*/false, scratch);
    ASSERT_EQ(n, expected) << scale;
    EXPECT_EQ(Ids(c, n), SortedIds(reference, n)) << scale;
    if (scale == 3.0) {
      EXPECT_GT(n, 1000u);
    } else {
      EXPECT_LT(n, 300u);
    }
  }
}

TEST(CandidateFiltersTest, MinPKeepsTokensAboveTheScaledMaximum) {
  // Probabilities 0.5, 0.3, 0.15, 0.05: min_p 0.2 puts the threshold at 0.1, min_p 0.35 at
  // 0.175, min_p 0.9 at 0.45.
  struct Case {
    float min_p;
    std::vector<int32_t> kept;
  };
  for (const Case& test :
       std::vector<Case>{{0.05f, {0, 1, 2, 3}}, {0.2f, {0, 1, 2}}, {0.35f, {0, 1}}, {0.9f, {0}}}) {
    std::vector<Candidate> c = FromProbabilities({0.5, 0.3, 0.15, 0.05});
    Weigh(c, 1.0f);
    const size_t n = KeepMinP(c, test.min_p);
    EXPECT_EQ(Ids(c, n), test.kept) << "min_p=" << test.min_p;
  }
}

TEST(CandidateFiltersTest, MinPKeepsThePresentOrder) {
  std::vector<Candidate> c = FromProbabilities({0.15, 0.05, 0.3, 0.5});
  Weigh(c, 1.0f);
  const size_t n = KeepMinP(c, 0.2f);
  EXPECT_THAT(Ids(c, n), ElementsAre(0, 2, 3));
}

TEST(CandidateFiltersTest, DrawWalksTheWeightIntervals) {
  const std::vector<Candidate> c = {{7, 0, 1.0f}, {3, 0, 0.0f}, {5, 0, 3.0f}};
  EXPECT_EQ(DrawIndex(c, 0.0), 0u);
  EXPECT_EQ(DrawIndex(c, 0.2499), 0u);
  EXPECT_EQ(DrawIndex(c, 0.25), 2u);  // a zero weight is never drawn
  EXPECT_EQ(DrawIndex(c, 0.9999999), 2u);
}

TEST(CandidateFiltersTest, DrawNeverPicksAZeroWeightAtTheEnd) {
  const std::vector<Candidate> c = {{1, 0, 1.0f}, {2, 0, 0.0f}};
  EXPECT_EQ(DrawIndex(c, 0.9999999999), 0u);
}

TEST(RandomEngineTest, UniformInUnitInterval) {
  RandomEngine rng(123);
  double sum = 0.0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.NextDouble();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

TEST(RandomEngineTest, SeedsGiveDistinctStreams) {
  RandomEngine a(0), b(0), c(1);
  for (int i = 0; i < 10; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    EXPECT_NE(x, c.Next());
  }
}

}  // namespace
}  // namespace hobbit::runtime::internal
