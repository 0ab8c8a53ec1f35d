#include "runtime/experts/expert_cache.h"

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"

namespace hobbit::runtime {
namespace {

constexpr int64_t kAlign = 64;

}  // namespace

ExpertCache::ExpertCache(const ExpertCacheOptions& options)
    : options_(options), usage_(options.n_layer, options.n_expert, options.weights) {}

absl::StatusOr<std::unique_ptr<ExpertCache>> ExpertCache::Create(Backend& backend, const ExpertCacheOptions& options) {
  if (options.n_layer <= 0 || options.n_expert <= 0) {
    return absl::InvalidArgumentError("expert cache: the model has no experts");
  }
  std::unique_ptr<ExpertCache> cache(new ExpertCache(options));
  const int32_t n_keys = options.n_layer * options.n_expert;
  for (Precision p : {Precision::kHigh, Precision::kLow}) {
    const bool high = p == Precision::kHigh;
    const int64_t budget = high ? options.high_pool_bytes : options.low_pool_bytes;
    const int64_t copy_bytes = high ? options.high_slot_bytes : options.low_slot_bytes;
    if (budget <= 0) continue;
    const char* name = high ? "high" : "low";
    if (copy_bytes <= 0) return absl::InvalidArgumentError(absl::StrCat("expert cache: ", name, " slot size is 0"));
    Pool& pool = cache->mutable_pool(p);
    pool.slot_bytes = (copy_bytes + kAlign - 1) / kAlign * kAlign;
    int64_t n_slots = std::min<int64_t>(budget / pool.slot_bytes, n_keys);
    if (options.per_layer) n_slots = n_slots / options.n_layer * options.n_layer;
    if (n_slots <= 0 || (options.per_layer && n_slots < options.n_layer)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expert cache: the ", name, " pool of ", budget, " bytes holds ", budget / pool.slot_bytes,
          " experts of ", copy_bytes, " bytes", options.per_layer ? ", fewer than one per layer" : ", none"));
    }
    HOBBIT_ASSIGN_OR_RETURN(pool.memory, backend.Allocate(static_cast<size_t>(n_slots * pool.slot_bytes),
                                                          absl::StrCat("expert cache (", name, " pool)")));
    pool.slots.resize(static_cast<size_t>(n_slots));
    pool.where.assign(static_cast<size_t>(n_keys), -1);
  }
  return cache;
}

int32_t ExpertCache::Find(Precision p, int32_t layer, int32_t expert) const {
  const Pool& pl = pool(p);
  if (pl.where.empty()) return -1;
  return pl.where[static_cast<size_t>(layer) * options_.n_expert + expert];
}

int32_t ExpertCache::PickVictim(const Pool& pl, int32_t begin, int32_t end, int32_t layer_now) const {
  int32_t victim = -1;
  double best = 0.0;
  for (int32_t s = begin; s < end; ++s) {
    const Slot& slot = pl.slots[s];
    if (slot.key < 0) return s;  // a free slot
    if (slot.pins > 0) continue;
    double priority = 0.0;
    if (options_.policy == EvictionPolicy::kMultidimensional) {
      priority = usage_.Priority(slot.key / options_.n_expert, slot.key % options_.n_expert, layer_now);
    }
    // Equal priorities (always, under kLru) fall back to the least recent use.
    if (victim < 0 || priority < best || (priority == best && slot.last_use < pl.slots[victim].last_use)) {
      victim = s;
      best = priority;
    }
  }
  return victim;
}

absl::StatusOr<ExpertCache::Insertion> ExpertCache::Insert(Precision p, int32_t layer, int32_t expert,
                                                           int32_t layer_now) {
  Pool& pl = mutable_pool(p);
  const char* name = p == Precision::kHigh ? "high" : "low";
  if (pl.slots.empty()) return absl::FailedPreconditionError(absl::StrCat("expert cache: no ", name, " pool"));
  int32_t begin = 0, end = static_cast<int32_t>(pl.slots.size());
  if (options_.per_layer) {
    const int32_t per = end / options_.n_layer;
    begin = layer * per;
    end = begin + per;
  }
  const int32_t s = PickVictim(pl, begin, end, layer_now);
  if (s < 0) {
    return absl::ResourceExhaustedError(absl::StrCat("expert cache: every ", name, " slot is pinned"));
  }
  Insertion ins;
  ins.slot = s;
  Slot& slot = pl.slots[s];
  if (slot.key >= 0) {
    ins.evicted = ExpertKey{slot.key / options_.n_expert, slot.key % options_.n_expert};
    pl.where[slot.key] = -1;
  }
  slot.key = layer * options_.n_expert + expert;
  slot.pins = 0;
  slot.last_use = ++clock_;
  slot.ready = CopyTicket{};
  pl.where[slot.key] = s;
  return ins;
}

void ExpertCache::Touch(Precision p, int32_t slot) { mutable_pool(p).slots[slot].last_use = ++clock_; }

void ExpertCache::Pin(Precision p, int32_t slot) { ++mutable_pool(p).slots[slot].pins; }

void ExpertCache::Unpin(Precision p, int32_t slot) {
  Slot& s = mutable_pool(p).slots[slot];
  if (s.pins > 0) --s.pins;
}

uint8_t* ExpertCache::slot_data(Precision p, int32_t slot) {
  Pool& pl = mutable_pool(p);
  return pl.memory->as<uint8_t>() + static_cast<int64_t>(slot) * pl.slot_bytes;
}

const uint8_t* ExpertCache::slot_data(Precision p, int32_t slot) const {
  const Pool& pl = pool(p);
  return pl.memory->as<uint8_t>() + static_cast<int64_t>(slot) * pl.slot_bytes;
}

int32_t ExpertCache::num_resident(Precision p) const {
  int32_t n = 0;
  for (const Slot& s : pool(p).slots) n += s.key >= 0 ? 1 : 0;
  return n;
}

int64_t ExpertCache::allocated_bytes(Precision p) const {
  const Pool& pl = pool(p);
  return pl.memory ? static_cast<int64_t>(pl.memory->bytes()) : 0;
}

std::optional<ExpertKey> ExpertCache::resident_at(Precision p, int32_t slot) const {
  const Slot& s = pool(p).slots[slot];
  if (s.key < 0) return std::nullopt;
  return ExpertKey{s.key / options_.n_expert, s.key % options_.n_expert};
}

}  // namespace hobbit::runtime
