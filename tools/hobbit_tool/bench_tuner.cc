#include "tools/hobbit_tool/bench_tuner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kernels/base/status_macros.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/experts/offloaded_expert_ffn.h"
#include "runtime/experts/precision_rule.h"
#include "runtime/model/model.h"
#include "runtime/model/sequence_runner.h"

namespace hobbit::tools {
namespace {

using runtime::LoadDecision;
using runtime::Precision;

constexpr int64_t kAlign = 64;
int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
// The replay's pools hold no expert bytes: a slot is this big, only the slot counts matter.
constexpr int64_t kReplaySlot = 64;

// The expert loader's slot layout: gate, up and down each start 64-byte aligned.
int64_t SlotBytes(const runtime::ExpertCopy& c) { return AlignUp(c.gate.bytes()) + AlignUp(c.up.bytes()) + c.down.bytes(); }

struct LayerReplay {
  const RoutingTraceEntry& entry;
  const ReplayModel& model;
  const runtime::PrecisionThresholds& thresholds;
  const std::vector<int64_t>& token_index;
};

absl::Status ReplayLayer(const LayerReplay& r, runtime::ExpertCache& cache, TuneCandidate& c) {
  const RoutingTraceEntry& e = r.entry;
  std::vector<LoadDecision> want(static_cast<size_t>(r.model.n_expert), LoadDecision::kSkip);
  std::vector<std::vector<int32_t>> rows(static_cast<size_t>(r.model.n_expert));
  std::vector<float> scores(static_cast<size_t>(e.k));
  for (int32_t t = 0; t < e.n_tokens; ++t) {
    runtime::UnimportanceScores(e.weights.data() + static_cast<size_t>(t) * e.k, e.k, r.model.norm_topk, scores.data());
    for (int32_t j = 0; j < e.k; ++j) {
      const int32_t x = e.ids[static_cast<size_t>(t) * e.k + j];
      rows[x].push_back(t);
      want[x] = runtime::CombineDecisions(want[x], runtime::DecideMiss(scores[j], r.thresholds));
    }
  }
  std::vector<std::pair<Precision, int32_t>> pinned;
  for (int32_t x = 0; x < r.model.n_expert; ++x) {
    if (rows[x].empty()) continue;
    const uint64_t pairs = rows[x].size();
    const int32_t hs = cache.Find(Precision::kHigh, e.layer, x), ls = cache.Find(Precision::kLow, e.layer, x);
    Precision p = hs >= 0 ? Precision::kHigh : Precision::kLow;
    int32_t slot = hs >= 0 ? hs : ls;
    if (slot >= 0) {
      c.hits += pairs;
    } else if (want[x] == LoadDecision::kSkip) {
      c.misses_skip += pairs;
      continue;
    } else {
      p = want[x] == LoadDecision::kHigh ? Precision::kHigh : Precision::kLow;
      if (cache.num_slots(p) == 0) p = p == Precision::kHigh ? Precision::kLow : Precision::kHigh;
      absl::StatusOr<runtime::ExpertCache::Insertion> ins = cache.Insert(p, e.layer, x, e.layer);
      if (absl::IsResourceExhausted(ins.status())) {  // every slot pinned: the layer runs what it has
        for (const auto& [pp, s] : pinned) cache.Unpin(pp, s);
        pinned.clear();
        ins = cache.Insert(p, e.layer, x, e.layer);
      }
      if (!ins.ok()) return ins.status();
      slot = ins->slot;
      const size_t key = static_cast<size_t>(e.layer) * r.model.n_expert + x;
      c.penalty_bytes += p == Precision::kHigh ? r.model.high_bytes[key] : r.model.low_bytes[key];
      (p == Precision::kHigh ? c.misses_high : c.misses_low) += pairs;
    }
    for (int32_t t : rows[x]) cache.usage().RecordUse(0, r.token_index[t], e.layer, x, p == Precision::kHigh);
    cache.Pin(p, slot);
    cache.Touch(p, slot);
    pinned.emplace_back(p, slot);
  }
  for (const auto& [pp, s] : pinned) cache.Unpin(pp, s);
  return absl::OkStatus();
}

// The calibration tokens through a model whose outputs equal resident's (hobbit with T1 = T2 = 1
// never loads low or skips), recording the routing.
absl::StatusOr<std::vector<RoutingTraceEntry>> RecordTrace(const BenchOptions& options,
                                                           std::shared_ptr<const runtime::GgufFile> file,
                                                           runtime::Backend& backend,
                                                           std::shared_ptr<const runtime::ExpertStore>& store,
                                                           const std::vector<int32_t>& calibration, int64_t budget) {
  runtime::ExpertOptions eo = options.experts;
  eo.mode = runtime::ExpertMode::kHobbit;
  eo.gpu_cache_bytes = budget;
  eo.high_pool_fraction = 1.0;
  eo.balanced = {1.0f, 1.0f};
  eo.prefetch_depth = 0;
  auto loader = std::make_unique<runtime::OffloadedExpertFfn>(eo, file, nullptr, store);
  runtime::OffloadedExpertFfn* raw_loader = loader.get();
  auto recorder = std::make_unique<RoutingRecorder>(std::move(loader));
  RoutingRecorder* raw = recorder.get();
  runtime::ModelLoadOptions load;
  load.expert_ffn = std::move(recorder);
  HOBBIT_ASSIGN_OR_RETURN(auto model, runtime::Model::Load(file, backend, std::move(load)));
  store = raw_loader->shared_store();
  runtime::SequenceRunner seq(*model, backend);
  HOBBIT_RETURN_IF_ERROR(seq.Init(static_cast<int32_t>(calibration.size()), /*chunk=*/64, /*block_size=*/16,
                                  kernels::KvCacheTypeFor(options.kv_type, backend.name())));
  runtime::StepOutput out;
  for (const int32_t& t : calibration) HOBBIT_RETURN_IF_ERROR(seq.Append({&t, 1}, runtime::LogitsWanted::kNone, &out));
  return raw->trace();
}

std::vector<runtime::PriorityWeights> WeightGrid(double step) {
  const int n = std::max(1, static_cast<int>(std::lround(1.0 / step)));
  std::vector<runtime::PriorityWeights> grid;
  for (int a = 0; a <= n; ++a) {
    for (int b = 0; a + b <= n; ++b) {
      for (int c = 0; a + b + c <= n; ++c) {
        grid.push_back({double(a) / n, double(b) / n, double(c) / n, double(n - a - b - c) / n});
      }
    }
  }
  return grid;
}

int32_t Slots(int64_t pool_bytes, int64_t slot_bytes, int32_t n_keys) {
  if (pool_bytes <= 0 || slot_bytes <= 0) return 0;
  return static_cast<int32_t>(std::min<int64_t>(pool_bytes / AlignUp(slot_bytes), n_keys));
}

}  // namespace

ReplayModel DescribeForReplay(const runtime::ExpertStore& store, bool norm_topk) {
  ReplayModel m;
  m.n_layer = store.n_layer();
  m.n_expert = store.n_expert();
  m.norm_topk = norm_topk;
  for (int32_t l = 0; l < m.n_layer; ++l) {
    for (int32_t e = 0; e < m.n_expert; ++e) {
      m.high_bytes.push_back(store.high(l, e).bytes());
      m.high_slot_bytes = std::max(m.high_slot_bytes, SlotBytes(store.high(l, e)));
      m.low_bytes.push_back(store.has_low() ? store.low(l, e).bytes() : 0);
      if (store.has_low()) m.low_slot_bytes = std::max(m.low_slot_bytes, SlotBytes(store.low(l, e)));
    }
  }
  return m;
}

absl::StatusOr<TuneCandidate> ReplayTrace(const std::vector<RoutingTraceEntry>& trace, const ReplayModel& model,
                                          int32_t high_slots, int32_t low_slots, const runtime::PriorityWeights& w,
                                          const runtime::PrecisionThresholds& thresholds) {
  runtime::CpuBackend backend;
  runtime::ExpertCacheOptions co;
  co.n_layer = model.n_layer;
  co.n_expert = model.n_expert;
  co.high_pool_bytes = int64_t{high_slots} * kReplaySlot;
  co.low_pool_bytes = int64_t{low_slots} * kReplaySlot;
  co.high_slot_bytes = kReplaySlot;
  co.low_slot_bytes = kReplaySlot;
  co.weights = w;
  HOBBIT_ASSIGN_OR_RETURN(auto cache, runtime::ExpertCache::Create(backend, co));
  TuneCandidate c{w.lru, w.lfu, w.lhu, w.fld};
  std::vector<int64_t> token_index;
  for (const RoutingTraceEntry& e : trace) {
    if (e.layer == 0 || token_index.size() != static_cast<size_t>(e.n_tokens)) {
      token_index.resize(static_cast<size_t>(e.n_tokens));
      for (int64_t& t : token_index) t = cache->usage().AddTokens(0, 1);
    }
    HOBBIT_RETURN_IF_ERROR(ReplayLayer({e, model, thresholds, token_index}, *cache, c));
  }
  return c;
}

absl::StatusOr<std::vector<TuneResult>> TuneEvictionWeights(const BenchOptions& options,
                                                            std::shared_ptr<const runtime::GgufFile> file,
                                                            runtime::Backend& backend,
                                                            std::shared_ptr<const runtime::ExpertStore> store,
                                                            const std::vector<int32_t>& calibration,
                                                            int64_t all_expert_bytes) {
  const int64_t first_budget = options.budgets.front().Resolve(all_expert_bytes);
  HOBBIT_ASSIGN_OR_RETURN(std::vector<RoutingTraceEntry> trace,
                          RecordTrace(options, file, backend, store, calibration, first_budget));
  HOBBIT_ASSIGN_OR_RETURN(runtime::ModelConfig config, runtime::ReadModelConfig(*file));
  const ReplayModel model = DescribeForReplay(*store, config.norm_topk);
  const int32_t n_keys = model.n_layer * model.n_expert;
  const std::vector<runtime::PriorityWeights> grid = WeightGrid(options.tune_step);
  const runtime::PrecisionThresholds& t = options.experts.balanced;
  std::vector<TuneResult> results;
  for (const BenchBudget& budget : options.budgets) {
    TuneResult r;
    r.budget_label = budget.label;
    r.budget_bytes = budget.Resolve(all_expert_bytes);
    const auto high_pool = static_cast<int64_t>(static_cast<double>(r.budget_bytes) * options.experts.high_pool_fraction);
    const int32_t hs = Slots(high_pool, model.high_slot_bytes, n_keys);
    const int32_t ls = Slots(r.budget_bytes - high_pool, model.low_slot_bytes, n_keys);
    const runtime::PriorityWeights configured{options.experts.w_lru, options.experts.w_lfu, options.experts.w_lhu,
                                              options.experts.w_fld};
    HOBBIT_ASSIGN_OR_RETURN(r.lru, ReplayTrace(trace, model, hs, ls, {1, 0, 0, 0}, t));
    HOBBIT_ASSIGN_OR_RETURN(r.lfu, ReplayTrace(trace, model, hs, ls, {0, 1, 0, 0}, t));
    HOBBIT_ASSIGN_OR_RETURN(r.configured, ReplayTrace(trace, model, hs, ls, configured, t));
    r.best = r.configured;
    for (const runtime::PriorityWeights& w : grid) {
      HOBBIT_ASSIGN_OR_RETURN(TuneCandidate c, ReplayTrace(trace, model, hs, ls, w, t));
      if (c.penalty_bytes < r.best.penalty_bytes) r.best = c;
    }
    r.grid_points = static_cast<int32_t>(grid.size());
    r.lookups = static_cast<int64_t>(r.lru.hits + r.lru.misses_high + r.lru.misses_low + r.lru.misses_skip);
    std::fprintf(stderr, "bench: tuned eviction weights at %s: %lld bytes (LRU %lld, LFU %lld)\n", r.budget_label.c_str(),
                 static_cast<long long>(r.best.penalty_bytes), static_cast<long long>(r.lru.penalty_bytes),
                 static_cast<long long>(r.lfu.penalty_bytes));
    results.push_back(r);
  }
  return results;
}

}  // namespace hobbit::tools
