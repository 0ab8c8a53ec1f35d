// SequenceRunner: one sequence through a Model without the engine, for offline tools and tests.
//
//   SequenceRunner runner(model, backend);
//   HOBBIT_RETURN_IF_ERROR(runner.Init(max_tokens));
//   StepOutput out;
//   HOBBIT_RETURN_IF_ERROR(runner.Append(prompt, LogitsWanted::kAll, &out));   // prefill
//   HOBBIT_RETURN_IF_ERROR(runner.Append({next}, LogitsWanted::kLast, &out));  // one decode step
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "runtime/kv/block_allocator.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"

namespace hobbit::runtime {

// Not thread-safe. The model and backend must outlive the runner.
class SequenceRunner {
 public:
  SequenceRunner(Model& model, Backend& backend) : model_(model), backend_(backend) {}

  // Reserves KV space for max_tokens positions. `chunk` bounds the tokens per step (prefill is
  // split into steps of at most this many tokens, exercising the KV path as the engine does).
  // The cache holds kv_type elements.
  absl::Status Init(int32_t max_tokens, int32_t chunk = 64, int32_t block_size = 16,
                    kernels::KvCacheType kv_type = kernels::KvCacheType::kF32);

  // Runs `tokens` at the next positions. With kAll, `out` holds one row per token.
  absl::Status Append(std::span<const int32_t> tokens, LogitsWanted logits, StepOutput* out);

  int32_t n_past() const { return n_past_; }

 private:
  // A step of `tokens` at the next positions, this sequence's only one.
  StepPlan Plan(std::span<const int32_t> tokens, LogitsWanted logits) const;

  Model& model_;
  Backend& backend_;
  std::unique_ptr<KvCache> kv_;
  std::vector<int32_t> blocks_;
  int32_t max_tokens_ = 0;
  int32_t chunk_ = 64;
  int32_t n_past_ = 0;
};

}  // namespace hobbit::runtime
