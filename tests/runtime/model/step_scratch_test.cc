// StepScratch's logits buffer: it grows to at least twice its old size, so decode batches growing
// one stream at a time move it (and end the recorded steps) only at doublings, but never past what
// a step needs when that is more, so a first step of many logits rows allocates exactly its size.
#include "runtime/model/step_scratch.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/model/model_config.h"
#include "runtime/model/step_plan.h"
#include "tests/support/forwarding_backend.h"

namespace hobbit::runtime {
namespace {

// The CPU backend, recording the size of every "logits" allocation.
class CountingBackend final : public test_support::ForwardingBackend {
 public:
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes, std::string_view what) override {
    if (what == "logits") logits_sizes.push_back(bytes);
    return ForwardingBackend::Allocate(bytes, what);
  }
  std::vector<size_t> logits_sizes;
};

ModelConfig SmallConfig() {
  ModelConfig c;
  c.n_embd = 8;
  c.n_head = 2;
  c.n_head_kv = 1;
  c.head_dim_k = 4;
  c.head_dim_v = 4;
  c.n_expert = 4;
  c.n_expert_used = 2;
  return c;
}

constexpr int32_t kVocab = 100, kBlock = 16;
constexpr size_t kRow = sizeof(float) * kVocab;

// n sequences of one decode token each (one logits row each), or one sequence of n tokens that
// wants every row (valid plans: block tables cover every position).
StepPlan Plan(int32_t n, LogitsWanted wanted) {
  StepPlan plan;
  if (wanted == LogitsWanted::kAll) {
    plan.tokens.assign(n, 1);
    std::vector<int32_t> blocks((n + kBlock - 1) / kBlock);
    for (size_t b = 0; b < blocks.size(); ++b) blocks[b] = static_cast<int32_t>(b);
    plan.seqs.push_back({.first_token = 0, .n_tokens = n, .n_past = 0, .block_table = blocks, .logits = wanted});
    return plan;
  }
  for (int32_t s = 0; s < n; ++s) {
    plan.tokens.push_back(1);
    plan.seqs.push_back({.first_token = s, .n_tokens = 1, .n_past = 3, .block_table = {s}, .logits = wanted});
  }
  return plan;
}

TEST(StepScratchTest, LogitsGrowByDoublingOneStreamAtATime) {
  CountingBackend backend;
  StepScratch scratch(backend, SmallConfig());
  for (int32_t n = 1; n <= 9; ++n) ASSERT_TRUE(scratch.Prepare(Plan(n, LogitsWanted::kLast), kBlock, kVocab).ok());
  // Rows 1, 2, 3 (-> 4), 5 (-> 8), 9 (-> 16): four moves in nine steps.
  EXPECT_EQ(backend.logits_sizes, (std::vector<size_t>{kRow, 2 * kRow, 4 * kRow, 8 * kRow, 16 * kRow}));
  // Fewer rows again: no move.
  ASSERT_TRUE(scratch.Prepare(Plan(2, LogitsWanted::kLast), kBlock, kVocab).ok());
  EXPECT_EQ(backend.logits_sizes.size(), 5u);
}

TEST(StepScratchTest, AFirstStepOfManyRowsAllocatesExactlyItsSize) {
  CountingBackend backend;
  StepScratch scratch(backend, SmallConfig());
  ASSERT_TRUE(scratch.Prepare(Plan(512, LogitsWanted::kAll), kBlock, kVocab).ok());
  EXPECT_EQ(backend.logits_sizes, (std::vector<size_t>{512 * kRow}));
  // A jump past twice the old size takes what it needs; a smaller growth doubles.
  ASSERT_TRUE(scratch.Prepare(Plan(1500, LogitsWanted::kAll), kBlock, kVocab).ok());
  ASSERT_TRUE(scratch.Prepare(Plan(1600, LogitsWanted::kAll), kBlock, kVocab).ok());
  EXPECT_EQ(backend.logits_sizes, (std::vector<size_t>{512 * kRow, 1500 * kRow, 3000 * kRow}));
}

}  // namespace
}  // namespace hobbit::runtime
