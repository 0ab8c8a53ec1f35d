// ExpertCache: the device-memory slot pools that hold cached experts, and their eviction.
//
// Two pools, one of high-precision and one of low-precision slots, each carved from one
// Backend::Allocate of (pool bytes / slot bytes) slots: the byte budget is never exceeded, by
// construction. Each pool evicts within itself; both copies of one expert may be resident at
// once. Eviction takes the unpinned resident copy of lowest priority:
//   kMultidimensional: ExpertUsage's LRU/LFU/LHU/FLD priority (hobbit-algorithms.md §3), ties
//                      broken by least recent use;
//   kLru:              least recently used (a logical clock), optionally within per-layer
//                      partitions of the pool (the ondemand-lru baseline).
// Pins are counted: a pinned slot is never evicted.
//
//   HOBBIT_ASSIGN_OR_RETURN(ExpertCache::Insertion ins, cache.Insert(Precision::kHigh, l, e, l));
//   backend.CopyToDevice(cache.slot_data(Precision::kHigh, ins.slot), ...);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/experts/copy_link.h"
#include "runtime/experts/expert_usage.h"
#include "runtime/experts/precision_rule.h"

namespace hobbit::runtime {

enum class EvictionPolicy { kMultidimensional, kLru };

struct ExpertCacheOptions {
  int32_t n_layer = 0;
  int32_t n_expert = 0;
  int64_t high_pool_bytes = 0;  // 0: no high pool
  int64_t low_pool_bytes = 0;   // 0: no low pool
  int64_t high_slot_bytes = 0;  // the largest high copy
  int64_t low_slot_bytes = 0;   // the largest low copy
  EvictionPolicy policy = EvictionPolicy::kMultidimensional;
  bool per_layer = false;       // kLru only: each layer gets slots / n_layer slots of its own
  PriorityWeights weights;
};

struct ExpertKey {
  int32_t layer = 0;
  int32_t expert = 0;
  bool operator==(const ExpertKey&) const = default;
};

// Not thread-safe: owned by the expert loader on the engine thread.
class ExpertCache {
 public:
  struct Insertion {
    int32_t slot = -1;
    std::optional<ExpertKey> evicted;  // the copy that made room, if any
  };

  // ResourceExhausted when the backend cannot allocate a pool; InvalidArgument when a pool
  // that is asked for holds no slot (or, per layer, fewer slots than layers).
  static absl::StatusOr<std::unique_ptr<ExpertCache>> Create(Backend& backend, const ExpertCacheOptions& options);

  // The slot holding (layer, expert) in pool `p`, or -1.
  int32_t Find(Precision p, int32_t layer, int32_t expert) const;
  // Gives (layer, expert) a slot in pool `p`: a free one, or the lowest-priority unpinned
  // resident copy is evicted. The slot's bytes are the caller's to fill. REQUIRES: not resident.
  // ResourceExhausted when every candidate slot is pinned.
  absl::StatusOr<Insertion> Insert(Precision p, int32_t layer, int32_t expert, int32_t layer_now);
  // Marks a use for the LRU clock.
  void Touch(Precision p, int32_t slot);
  void Pin(Precision p, int32_t slot);
  void Unpin(Precision p, int32_t slot);
  bool pinned(Precision p, int32_t slot) const { return pool(p).slots[slot].pins > 0; }

  uint8_t* slot_data(Precision p, int32_t slot);
  const uint8_t* slot_data(Precision p, int32_t slot) const;
  // The copy that fills the slot (what to wait for before reading it).
  const CopyTicket& ready(Precision p, int32_t slot) const { return pool(p).slots[slot].ready; }
  void set_ready(Precision p, int32_t slot, const CopyTicket& t) { mutable_pool(p).slots[slot].ready = t; }

  int32_t num_slots(Precision p) const { return static_cast<int32_t>(pool(p).slots.size()); }
  int32_t num_resident(Precision p) const;
  int64_t slot_bytes(Precision p) const { return pool(p).slot_bytes; }
  int64_t allocated_bytes(Precision p) const;  // bytes of the pool's device allocation
  std::optional<ExpertKey> resident_at(Precision p, int32_t slot) const;

  ExpertUsage& usage() { return usage_; }
  const ExpertUsage& usage() const { return usage_; }

 private:
  struct Slot {
    int32_t key = -1;   // layer * n_expert + expert, or -1 when free
    int32_t pins = 0;
    uint64_t last_use = 0;
    CopyTicket ready;
  };
  struct Pool {
    int64_t slot_bytes = 0;
    std::unique_ptr<DeviceBuffer> memory;
    std::vector<Slot> slots;
    std::vector<int32_t> where;  // key -> slot or -1
  };

  ExpertCache(const ExpertCacheOptions& options);
  const Pool& pool(Precision p) const { return p == Precision::kHigh ? high_ : low_; }
  Pool& mutable_pool(Precision p) { return p == Precision::kHigh ? high_ : low_; }
  int32_t PickVictim(const Pool& pool, int32_t begin, int32_t end, int32_t layer_now) const;

  ExpertCacheOptions options_;
  Pool high_, low_;
  uint64_t clock_ = 0;
  ExpertUsage usage_;
};

}  // namespace hobbit::runtime
