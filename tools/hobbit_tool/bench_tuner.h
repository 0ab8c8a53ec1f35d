// Tuning of the multidimensional eviction weights (hobbit-algorithms.md §3; --tune): resident's
// routing on calibration tokens is recorded once, then replayed offline through ExpertCache and
// the precision rule for a grid of (w_lru, w_lfu, w_lhu, w_fld) on the simplex, at each budget.
// A miss costs the bytes of the copy it loads (a skipped expert costs nothing); the replay has
// no prefetching. Plain LRU is (1, 0, 0, 0) and plain LFU (0, 1, 0, 0) in the same replay.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/experts/expert_cache.h"
#include "runtime/experts/expert_store.h"
#include "runtime/gguf/gguf_file.h"
#include "tools/hobbit_tool/bench_options.h"
#include "tools/hobbit_tool/bench_results.h"
#include "tools/hobbit_tool/bench_routing_recorder.h"

namespace hobbit::tools {

// What the replay needs of the model: per (layer, expert) the bytes of each copy, and the slot
// counts of the pools a budget gives (as the expert loader sizes them).
struct ReplayModel {
  int32_t n_layer = 0;
  int32_t n_expert = 0;
  bool norm_topk = true;
  std::vector<int64_t> high_bytes, low_bytes;  // [n_layer * n_expert]
  int64_t high_slot_bytes = 0, low_slot_bytes = 0;
};

ReplayModel DescribeForReplay(const runtime::ExpertStore& store, bool norm_topk);

// The miss penalty of one weight vector with the given pools (slots) and thresholds.
absl::StatusOr<TuneCandidate> ReplayTrace(const std::vector<RoutingTraceEntry>& trace, const ReplayModel& model,
                                          int32_t high_slots, int32_t low_slots, const runtime::PriorityWeights& w,
                                          const runtime::PrecisionThresholds& thresholds);

// Records the calibration trace (one sequence, one token per step) and tunes at every budget.
absl::StatusOr<std::vector<TuneResult>> TuneEvictionWeights(const BenchOptions& options,
                                                            std::shared_ptr<const runtime::GgufFile> file,
                                                            runtime::Backend& backend,
                                                            std::shared_ptr<const runtime::ExpertStore> store,
                                                            const std::vector<int32_t>& calibration,
                                                            int64_t all_expert_bytes);

}  // namespace hobbit::tools
