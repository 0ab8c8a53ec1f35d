// ExpertCache: eviction order for hand-computed histories of each priority dimension (LRU, LFU,
// LHU, FLD, several sequences), the LRU baseline with per-layer partitions, pins, and a seeded
// property test that the budget is never exceeded and pinned copies are never evicted.
#include "runtime/experts/expert_cache.h"

#include <map>
#include <random>
#include <set>

#include "gtest/gtest.h"
#include "runtime/backend/cpu_backend.h"

namespace hobbit::runtime {
namespace {

constexpr int64_t kSlot = 64;
constexpr Precision kH = Precision::kHigh;

std::unique_ptr<ExpertCache> MakeCache(Backend& backend, int32_t high_slots, PriorityWeights w,
                                       EvictionPolicy policy = EvictionPolicy::kMultidimensional,
                                       bool per_layer = false, int32_t n_layer = 4) {
  ExpertCacheOptions o;
  o.n_layer = n_layer;
  o.n_expert = 4;
  o.high_pool_bytes = high_slots * kSlot;
  o.high_slot_bytes = kSlot;
  o.policy = policy;
  o.per_layer = per_layer;
  o.weights = w;
  auto cache = ExpertCache::Create(backend, o);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return cache.ok() ? std::move(*cache) : nullptr;
}

// Inserts (layer, expert) and returns what it evicted.
std::optional<ExpertKey> Put(ExpertCache& c, int32_t layer, int32_t expert, int32_t layer_now = 0) {
  auto ins = c.Insert(kH, layer, expert, layer_now);
  EXPECT_TRUE(ins.ok()) << ins.status();
  return ins.ok() ? ins->evicted : std::nullopt;
}

TEST(ExpertCacheTest, LruDimensionEvictsTheLeastRecentlyUsedInTheSequence) {
  CpuBackend backend;
  auto c = MakeCache(backend, 3, {1, 0, 0, 0});
  ExpertUsage& u = c->usage();
  for (int e = 0; e < 3; ++e) Put(*c, 0, e);
  // Tokens 1, 2, 3 use experts 0, 1, 2; token 4 uses expert 0 again: R = 4, 2, 3.
  for (int e = 0; e < 3; ++e) u.RecordUse(7, u.AddTokens(7, 1), 0, e, true);
  u.RecordUse(7, u.AddTokens(7, 1), 0, 0, true);
  EXPECT_EQ(Put(*c, 0, 3), (ExpertKey{0, 1}));
}

TEST(ExpertCacheTest, LfuDimensionEvictsTheLeastFrequentlyUsed) {
  CpuBackend backend;
  auto c = MakeCache(backend, 3, {0, 1, 0, 0});
  ExpertUsage& u = c->usage();
  for (int e = 0; e < 3; ++e) Put(*c, 0, e);
  // F = 3, 1, 2 over 6 tokens; expert 1 is also the most recent, which LFU ignores.
  for (int e : {0, 0, 2, 0, 2, 1}) u.RecordUse(1, u.AddTokens(1, 1), 0, e, true);
  EXPECT_EQ(Put(*c, 0, 3), (ExpertKey{0, 1}));
}

TEST(ExpertCacheTest, LhuDimensionCountsOnlyHighPrecisionUses) {
  CpuBackend backend;
  auto c = MakeCache(backend, 3, {0, 0, 1, 0});
  ExpertUsage& u = c->usage();
  for (int e = 0; e < 3; ++e) Put(*c, 0, e);
  // H = 2, 0, 1 although expert 1 is used most (three low uses).
  u.RecordUse(1, u.AddTokens(1, 1), 0, 0, true);
  u.RecordUse(1, u.AddTokens(1, 1), 0, 0, true);
  for (int i = 0; i < 3; ++i) u.RecordUse(1, u.AddTokens(1, 1), 0, 1, false);
  u.RecordUse(1, u.AddTokens(1, 1), 0, 2, true);
  EXPECT_EQ(Put(*c, 0, 3), (ExpertKey{0, 1}));
}

TEST(ExpertCacheTest, FldDimensionEvictsTheLayerJustRun) {
  CpuBackend backend;
  auto c = MakeCache(backend, 3, {0, 0, 0, 1});
  // L = 4, layer 2 running: layer 0 is 2 ahead (p = 0.5), layer 1 was just run (0.25),
  // layer 2 is running (1).
  Put(*c, 0, 0, 2);
  Put(*c, 1, 0, 2);
  Put(*c, 2, 0, 2);
  EXPECT_EQ(Put(*c, 3, 0, 2), (ExpertKey{1, 0}));
  // Now layer 3 running: layer 2 was just run (0.25) and goes next.
  EXPECT_EQ(Put(*c, 3, 1, 3), (ExpertKey{2, 0}));
}

TEST(ExpertCacheTest, PriorityIsSummedOverLiveSequencesAndRecordsEndWithThem) {
  CpuBackend backend;
  auto c = MakeCache(backend, 3, {0, 1, 0, 0});
  ExpertUsage& u = c->usage();
  for (int e = 0; e < 3; ++e) Put(*c, 0, e);
  // Sequence 1 (4 tokens): F = 2, 0, 2 -> 0.5, 0, 0.5. Sequence 2 (2 tokens): expert 1 twice -> 1.
  for (int e : {0, 2, 0, 2}) u.RecordUse(1, u.AddTokens(1, 1), 0, e, true);
  for (int i = 0; i < 2; ++i) u.RecordUse(2, u.AddTokens(2, 1), 0, 1, true);
  // Sums: 0.5, 1, 0.5: expert 0 and 2 tie; the least recently inserted (0) goes.
  EXPECT_EQ(Put(*c, 0, 3), (ExpertKey{0, 0}));
  // Sequence 2 ends: expert 1 drops to 0 and is evicted next (expert 3 is at 0 too but newer).
  u.EndSequence(2);
  EXPECT_EQ(u.live_sequences(), 1);
  EXPECT_EQ(Put(*c, 1, 0), (ExpertKey{0, 1}));
}

TEST(ExpertCacheTest, PinnedSlotsAreNeverEvicted) {
  CpuBackend backend;
  auto c = MakeCache(backend, 2, {1, 0, 0, 0}, EvictionPolicy::kLru);
  Put(*c, 0, 0);
  Put(*c, 0, 1);
  c->Pin(kH, c->Find(kH, 0, 0));  // the LRU victim is pinned: the other one goes
  EXPECT_EQ(Put(*c, 0, 2), (ExpertKey{0, 1}));
  c->Pin(kH, c->Find(kH, 0, 2));
  auto full = c->Insert(kH, 0, 3, 0);
  EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();
  EXPECT_GE(c->Find(kH, 0, 0), 0);
  EXPECT_GE(c->Find(kH, 0, 2), 0);
  c->Unpin(kH, c->Find(kH, 0, 0));
  EXPECT_EQ(Put(*c, 0, 3), (ExpertKey{0, 0}));
}

TEST(ExpertCacheTest, PerLayerLruEvictsWithinTheLayer) {
  CpuBackend backend;
  auto c = MakeCache(backend, 4, {}, EvictionPolicy::kLru, /*per_layer=*/true, /*n_layer=*/2);
  ASSERT_EQ(c->num_slots(kH), 4);
  Put(*c, 1, 0);  // oldest overall, but in layer 1's partition
  Put(*c, 0, 0);
  Put(*c, 0, 1);
  c->Touch(kH, c->Find(kH, 0, 0));  // expert 1 is now layer 0's least recent
  EXPECT_EQ(Put(*c, 0, 2), (ExpertKey{0, 1}));
  EXPECT_GE(c->Find(kH, 1, 0), 0);
}

TEST(ExpertCacheTest, PoolTooSmallIsAnError) {
  CpuBackend backend;
  ExpertCacheOptions o;
  o.n_layer = 4;
  o.n_expert = 4;
  o.high_pool_bytes = 3 * kSlot;
  o.high_slot_bytes = kSlot;
  o.policy = EvictionPolicy::kLru;
  o.per_layer = true;  // 3 slots for 4 layers
  EXPECT_TRUE(absl::IsInvalidArgument(ExpertCache::Create(backend, o).status()));
  o.per_layer = false;
  o.high_pool_bytes = kSlot - 1;
  EXPECT_TRUE(absl::IsInvalidArgument(ExpertCache::Create(backend, o).status()));
}

TEST(ExpertCacheTest, BackendBudgetIsHonoured) {
  CpuBackend backend(CpuBackendOptions{.threads = 1, .memory_budget = 5 * kSlot});
  ExpertCacheOptions o;
  o.n_layer = 4;
  o.n_expert = 4;
  o.high_pool_bytes = 4 * kSlot;
  o.high_slot_bytes = kSlot;
  o.low_pool_bytes = 2 * kSlot;  // 6 slots do not fit a 5-slot device
  o.low_slot_bytes = kSlot;
  EXPECT_TRUE(absl::IsResourceExhausted(ExpertCache::Create(backend, o).status()));
  EXPECT_EQ(backend.allocated_bytes(), 0);
}

// Random inserts, uses, pins and sequence ends, checked against a shadow model after each op.
TEST(ExpertCacheTest, PropertyBudgetNeverExceededAndPinsHonoured) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    const int32_t n_layer = 3 + static_cast<int32_t>(rng() % 4), n_expert = 2 + static_cast<int32_t>(rng() % 7);
    const int64_t high_slot = 64 * (1 + rng() % 5), low_slot = 64 * (1 + rng() % 3);
    const int64_t budget = (1 + rng() % 12) * high_slot + (rng() % 20) * low_slot;
    CpuBackend backend(CpuBackendOptions{.threads = 1, .memory_budget = budget});
    ExpertCacheOptions o;
    o.n_layer = n_layer;
    o.n_expert = n_expert;
    o.high_slot_bytes = high_slot;
    o.low_slot_bytes = low_slot;
    o.high_pool_bytes = std::max<int64_t>(high_slot, budget / 2 / high_slot * high_slot);
    o.low_pool_bytes = budget - o.high_pool_bytes;
    o.weights = PriorityWeights{(rng() % 4) / 4.0, (rng() % 4) / 4.0, (rng() % 4) / 4.0, (rng() % 4) / 4.0};
    auto created = ExpertCache::Create(backend, o);
    if (o.low_pool_bytes > 0 && o.low_pool_bytes < low_slot) {
      EXPECT_FALSE(created.ok());
      continue;
    }
    ASSERT_TRUE(created.ok()) << created.status() << " seed " << seed;
    ExpertCache& c = **created;
    std::map<std::pair<int, int>, int> pins[2];  // (layer, expert) -> pin count, per pool
    for (int op = 0; op < 2000; ++op) {
      const Precision p = (rng() % 3 == 0 && c.num_slots(Precision::kLow) > 0) ? Precision::kLow : kH;
      const int pi = static_cast<int>(p);
      const int layer = static_cast<int>(rng() % n_layer), expert = static_cast<int>(rng() % n_expert);
      const int32_t slot = c.Find(p, layer, expert);
      const uint32_t what = rng() % 10;
      if (slot < 0 && what < 5) {
        auto ins = c.Insert(p, layer, expert, static_cast<int32_t>(rng() % n_layer));
        if (ins.ok()) {
          if (ins->evicted) {
            EXPECT_EQ(pins[pi].count({ins->evicted->layer, ins->evicted->expert}), 0u) << "evicted a pinned copy";
            EXPECT_LT(c.Find(p, ins->evicted->layer, ins->evicted->expert), 0);
          }
          EXPECT_EQ(c.Find(p, layer, expert), ins->slot);
        } else {
          EXPECT_TRUE(absl::IsResourceExhausted(ins.status()));
          EXPECT_EQ(static_cast<int32_t>(pins[pi].size()), c.num_slots(p)) << "refused with unpinned slots";
        }
      } else if (slot >= 0 && what < 7) {
        c.Pin(p, slot);
        ++pins[pi][{layer, expert}];
      } else if (slot >= 0 && what < 9 && pins[pi].count({layer, expert})) {
        c.Unpin(p, slot);
        if (--pins[pi][{layer, expert}] == 0) pins[pi].erase({layer, expert});
      } else {
        const int64_t seq = rng() % 3;
        if (what == 9 && rng() % 4 == 0) {
          c.usage().EndSequence(seq);
        } else {
          c.usage().RecordUse(seq, c.usage().AddTokens(seq, 1), layer, expert, p == kH);
        }
      }
      for (Precision q : {kH, Precision::kLow}) {
        EXPECT_LE(c.num_resident(q) * c.slot_bytes(q), c.allocated_bytes(q));
        for (const auto& [key, n] : pins[static_cast<int>(q)]) EXPECT_GE(c.Find(q, key.first, key.second), 0);
      }
      EXPECT_LE(c.allocated_bytes(kH), o.high_pool_bytes);
      EXPECT_LE(c.allocated_bytes(Precision::kLow), o.low_pool_bytes);
      EXPECT_LE(backend.allocated_bytes(), budget);
    }
  }
}

}  // namespace
}  // namespace hobbit::runtime
