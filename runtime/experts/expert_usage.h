// ExpertUsage: the per-sequence records behind the multidimensional eviction priority
// (hobbit-algorithms.md §3).
//
// For each live sequence and each expert t it keeps R_t (index of the token that last used t),
// F_t (uses) and H_t (high-precision uses), and the sequence's token count T. The priority of t
// while layer l_now runs is
//   w_lru * R_t/T + w_lfu * F_t/T + w_lhu * H_t/T   summed over the live sequences (ours)
//   + w_fld * (1 - ((l_t - l_now + L) mod L) / L).
// Records start empty when a sequence begins and are dropped when it ends.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace hobbit::runtime {

struct PriorityWeights {
  double lru = 0.25;
  double lfu = 0.25;
  double lhu = 0.25;
  double fld = 0.25;
};

// Not thread-safe: owned by the expert loader on the engine thread.
class ExpertUsage {
 public:
  ExpertUsage(int32_t n_layer, int32_t n_expert, PriorityWeights weights);

  // A sequence unknown to the records starts empty at its first use.
  void EndSequence(int64_t seq);
  // Counts n more tokens of `seq` and returns the (1-based) index of the first of them.
  int64_t AddTokens(int64_t seq, int64_t n);
  int64_t tokens(int64_t seq) const;
  // Token `token_index` of `seq` used expert (layer, expert); `high`: in high precision.
  void RecordUse(int64_t seq, int64_t token_index, int32_t layer, int32_t expert, bool high);
  double Priority(int32_t layer, int32_t expert, int32_t layer_now) const;
  int32_t live_sequences() const { return static_cast<int32_t>(seqs_.size()); }

 private:
  struct Record {
    int64_t last = 0;   // R_t
    int64_t uses = 0;   // F_t
    int64_t high = 0;   // H_t
  };
  struct SequenceRecords {
    int64_t tokens = 0;  // T
    std::vector<Record> experts;  // [n_layer * n_expert]
  };
  SequenceRecords& Get(int64_t seq);

  int32_t n_layer_;
  int32_t n_expert_;
  PriorityWeights weights_;
  absl::flat_hash_map<int64_t, SequenceRecords> seqs_;
};

}  // namespace hobbit::runtime
