#include "runtime/experts/offloaded_expert_ffn.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "kernels/base/status_macros.h"

namespace hobbit::runtime {
namespace {

constexpr int64_t kAlign = 64;
int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

// One routed expert of the running layer: its tokens, their router weights and wishes, and
// what the loader resolved it to.
struct OffloadedExpertFfn::Work {
  int32_t expert = 0;
  std::vector<int32_t> rows;
  std::vector<float> scales;
  std::vector<LoadDecision> wants;
  std::vector<int64_t> seqs;
  Precision precision = Precision::kHigh;
  int32_t slot = -1;
  bool skip = false;
  bool on_host = false;      // computed on the CPU (the CPU path), not copied
  bool strict_high = false;  // a pair's policy is `quality`: a resident low copy does not serve it
};

struct OffloadedExpertFfn::PrefetchEntry {
  int32_t layer = 0;
  int32_t expert = 0;
  Precision precision = Precision::kHigh;
  int32_t slot = -1;
  int64_t seq = 0;  // the sequence the statistics are attributed to
  bool pinned = true;
  bool used = false;
  bool late = false;
};

OffloadedExpertFfn::OffloadedExpertFfn(const ExpertOptions& options, std::shared_ptr<const GgufFile> file,
                                       std::function<void(std::string_view)> progress,
                                       std::shared_ptr<const ExpertStore> store)
    : options_(options), file_(std::move(file)), progress_(std::move(progress)), store_(std::move(store)) {
  default_thresholds_ = ThresholdsFor(options_, std::nullopt);
}

OffloadedExpertFfn::~OffloadedExpertFfn() { SaveUsage(); }

absl::Status OffloadedExpertFfn::Init(const ModelConfig& config, std::span<const LayerExperts> experts,
                                      Backend& backend) {
  if (options_.mode == ExpertMode::kResident) {
    return absl::InvalidArgumentError("experts.mode: \"resident\" runs without the expert loader");
  }
  HOBBIT_RETURN_IF_ERROR(ValidateExpertOptions(options_));
  // Model::Load leaves the experts in host memory (the mapped file) when an ExpertFfn takes
  // them over, so `experts` are host views on every backend: the store reads them and the
  // loader copies them into the backend's slots.
  config_ = config;
  backend_ = &backend;
  const bool need_low = options_.mode != ExpertMode::kOndemandLru;
  if (store_ != nullptr) {
    if (store_->n_layer() != config.n_layer || store_->n_expert() != config.n_expert ||
        (need_low && !store_->has_low())) {
      return absl::InvalidArgumentError(absl::StrCat("expert loader: the shared expert store (", store_->n_layer(),
                                                     " layers, ", store_->n_expert(), " experts",
                                                     store_->has_low() ? "" : ", no low copies",
                                                     ") does not fit this model and mode"));
    }
  } else {
    ExpertStoreOptions so;
    so.format = options_.low_format;
    so.make_low = need_low;
    so.state_dir = options_.state_dir;
    so.model_path = file_ ? file_->path() : "";
    so.threads = options_.build_threads;
    so.progress = progress_;
    so.pin_with = options_.pin_host && backend.copies_want_pinned_host() ? &backend : nullptr;
    HOBBIT_ASSIGN_OR_RETURN(store_, ExpertStore::Create(config, experts, so));
  }
  HOBBIT_RETURN_IF_ERROR(InitCache(backend));
  HOBBIT_RETURN_IF_ERROR(InitPaths(backend));
  HOBBIT_RETURN_IF_ERROR(WarmStart());
  progress_ = nullptr;  // only loading reports progress; the caller's callback need not outlive it
  if (options_.mode == ExpertMode::kHobbit && options_.prefetch_depth > 0) {
    if (file_ == nullptr) return absl::InvalidArgumentError("expert loader: prefetching needs the model file");
    HOBBIT_ASSIGN_OR_RETURN(prefetcher_, Prefetcher::Create(*file_, config, backend, options_.prefetch_depth));
  }
  return absl::OkStatus();
}

absl::Status OffloadedExpertFfn::InitPaths(Backend& backend) {
  link_ = std::make_unique<CopyLink>(backend, options_.copy_bandwidth);
  if (options_.copy_bandwidth > 0.0) {
    link_bandwidth_ = options_.copy_bandwidth;
  } else if (backend.copies_want_pinned_host()) {
    absl::StatusOr<double> measured = MeasureCopyBandwidth(backend, size_t{32} << 20, 2);
    if (measured.ok()) {
      link_bandwidth_ = *measured;
      if (progress_) progress_(absl::StrFormat("host-to-device link: %.1f GB/s (pinned)", link_bandwidth_ / 1e9));
    } else {
      // Only the prefetch throttle and the CPU path use the figure: without it the loader
      // prefetches every predicted miss (the paper) and copies every miss.
      link_bandwidth_ = std::numeric_limits<double>::infinity();
      if (progress_) {
        progress_(absl::StrCat("warning: could not measure the host-to-device link (", measured.status().message(),
                               "); the prefetch throttle and the CPU path are off"));
      }
    }
  } else {
    link_bandwidth_ = std::numeric_limits<double>::infinity();  // copies are memcpy
  }
  if (options_.mode == ExpertMode::kHobbit && options_.cpu_path) {
    host_ = std::make_unique<HostExpertRunner>(config_.n_embd, config_.n_ff_exp, options_.cpu_path_threads);
    HOBBIT_ASSIGN_OR_RETURN(host_bandwidth_, host_->MeasureBandwidth(store_->high(0, 0), 2));
    if (progress_) {
      progress_(absl::StrFormat("CPU path for misses: %.1f GB/s of expert weights", host_bandwidth_ / 1e9));
    }
  }
  return absl::OkStatus();
}

absl::Status OffloadedExpertFfn::InitCache(Backend& backend) {
  auto layout = [](const ExpertCopy& c) {
    SlotLayout s;
    s.up = AlignUp(c.gate.bytes());
    s.down = s.up + AlignUp(c.up.bytes());
    s.bytes = s.down + c.down.bytes();
    return s;
  };
  for (int32_t l = 0; l < store_->n_layer(); ++l) {
    for (int32_t e = 0; e < store_->n_expert(); ++e) {
      max_high_.bytes = std::max(max_high_.bytes, layout(store_->high(l, e)).bytes);
      if (store_->has_low()) max_low_.bytes = std::max(max_low_.bytes, layout(store_->low(l, e)).bytes);
    }
  }
  ExpertCacheOptions co;
  co.n_layer = config_.n_layer;
  co.n_expert = config_.n_expert;
  co.high_slot_bytes = max_high_.bytes;
  co.low_slot_bytes = max_low_.bytes;
  co.weights = PriorityWeights{options_.w_lru, options_.w_lfu, options_.w_lhu, options_.w_fld};
  const int64_t budget = options_.gpu_cache_bytes;
  switch (options_.mode) {
    case ExpertMode::kOndemandLru:
      co.high_pool_bytes = budget;
      co.policy = EvictionPolicy::kLru;
      co.per_layer = true;
      break;
    case ExpertMode::kStaticLow:
      co.low_pool_bytes = budget;
      co.policy = EvictionPolicy::kLru;
      break;
    default:
      co.high_pool_bytes = static_cast<int64_t>(static_cast<double>(budget) * options_.high_pool_fraction);
      co.low_pool_bytes = budget - co.high_pool_bytes;
      break;
  }
  HOBBIT_ASSIGN_OR_RETURN(cache_, ExpertCache::Create(backend, co));
  if (progress_) {
    progress_(absl::StrCat("expert cache (", ExpertModeName(options_.mode), "): ",
                           cache_->num_slots(Precision::kHigh), " high slots of ", max_high_.bytes, " bytes, ",
                           cache_->num_slots(Precision::kLow), " low slots of ", max_low_.bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status OffloadedExpertFfn::EnsureScratch(int32_t n_tokens) {
  if (n_tokens <= scratch_tokens_) return absl::OkStatus();
  const size_t f = sizeof(float);
  HOBBIT_ASSIGN_OR_RETURN(x_e_, backend_->Allocate(f * n_tokens * config_.n_embd, "expert input rows"));
  HOBBIT_ASSIGN_OR_RETURN(gate_, backend_->Allocate(f * n_tokens * config_.n_ff_exp, "expert gate activations"));
  HOBBIT_ASSIGN_OR_RETURN(up_, backend_->Allocate(f * n_tokens * config_.n_ff_exp, "expert up activations"));
  HOBBIT_ASSIGN_OR_RETURN(down_, backend_->Allocate(f * n_tokens * config_.n_embd, "expert outputs"));
  scratch_tokens_ = n_tokens;
  return absl::OkStatus();
}

void OffloadedExpertFfn::BeginSequence(int64_t seq, std::optional<ExpertPolicy> policy) {
  seq_thresholds_[seq] = ThresholdsFor(options_, policy);
}

ExpertStats OffloadedExpertFfn::EndSequence(int64_t seq) {
  ExpertStats s = sequence_stats(seq);
  seq_stats_.erase(seq);
  seq_thresholds_.erase(seq);
  if (cache_) cache_->usage().EndSequence(seq);
  return s;
}

ExpertStats OffloadedExpertFfn::sequence_stats(int64_t seq) const {
  auto it = seq_stats_.find(seq);
  return it == seq_stats_.end() ? ExpertStats{} : it->second;
}

void OffloadedExpertFfn::ResetStats() {
  total_ = ExpertStats{};
  seq_stats_.clear();
}

void OffloadedExpertFfn::StartStep(const ExpertRouting& routing) {
  token_index_.resize(static_cast<size_t>(routing.n_tokens));
  for (int32_t t = 0; t < routing.n_tokens; ++t) {
    const int64_t seq = routing.seq_ids ? routing.seq_ids[t] : 0;
    token_index_[t] = cache_->usage().AddTokens(seq, 1);
    ++SeqStats(seq).tokens;
    ++total_.tokens;
  }
}

LoadDecision OffloadedExpertFfn::PairWant(float score, int64_t seq) const {
  switch (options_.mode) {
    case ExpertMode::kOndemandLru:
      return LoadDecision::kHigh;
    case ExpertMode::kStaticLow:
      return LoadDecision::kLow;
    default:
      break;
  }
  auto it = seq_thresholds_.find(seq);
  return DecideMiss(score, it == seq_thresholds_.end() ? default_thresholds_ : it->second);
}

bool OffloadedExpertFfn::StrictHigh(int64_t seq) const {
  if (options_.mode != ExpertMode::kHobbit) return false;
  auto it = seq_thresholds_.find(seq);
  return (it == seq_thresholds_.end() ? default_thresholds_ : it->second).t1 >= 1.0f;
}

Precision OffloadedExpertFfn::Available(LoadDecision d) const {
  const bool want_high = d == LoadDecision::kHigh;
  if (want_high && cache_->num_slots(Precision::kHigh) == 0) return Precision::kLow;
  if (!want_high && cache_->num_slots(Precision::kLow) == 0) return Precision::kHigh;
  return want_high ? Precision::kHigh : Precision::kLow;
}

std::vector<OffloadedExpertFfn::Work> OffloadedExpertFfn::Group(const ExpertRouting& routing) const {
  std::vector<Work> by_expert(static_cast<size_t>(config_.n_expert));
  std::vector<float> scores(static_cast<size_t>(routing.k));
  for (int32_t t = 0; t < routing.n_tokens; ++t) {
    const int64_t seq = routing.seq_ids ? routing.seq_ids[t] : 0;
    const float* w = routing.weights + static_cast<size_t>(t) * routing.k;
    UnimportanceScores(w, routing.k, config_.norm_topk, scores.data());
    for (int32_t j = 0; j < routing.k; ++j) {
      Work& work = by_expert[routing.ids[static_cast<size_t>(t) * routing.k + j]];
      work.rows.push_back(t);
      work.scales.push_back(w[j]);
      work.wants.push_back(PairWant(scores[j], seq));
      work.seqs.push_back(seq);
      work.strict_high = work.strict_high || StrictHigh(seq);
    }
  }
  std::vector<Work> out;
  for (int32_t e = 0; e < config_.n_expert; ++e) {
    if (by_expert[e].rows.empty()) continue;
    by_expert[e].expert = e;
    out.push_back(std::move(by_expert[e]));
  }
  return out;
}

absl::Status OffloadedExpertFfn::Run(int32_t layer, const float* x, const ExpertRouting& routing, float* out) {
  if (layer < 0 || layer >= config_.n_layer) {
    return absl::InvalidArgumentError(absl::StrCat("expert loader: layer ", layer, " of ", config_.n_layer));
  }
  if (routing.n_tokens <= 0) return absl::OkStatus();
  for (int64_t i = 0; i < int64_t{routing.n_tokens} * routing.k; ++i) {
    if (routing.ids[i] < 0 || routing.ids[i] >= config_.n_expert) {
      return absl::InvalidArgumentError(absl::StrCat("expert loader: expert id ", routing.ids[i], " of ",
                                                     config_.n_expert));
    }
  }
  if (layer == 0 || token_index_.size() != static_cast<size_t>(routing.n_tokens)) StartStep(routing);
  if (layer == last_layer_ + 1 && waits_done_ != absl::InfinitePast()) {
    const double lead = absl::ToDoubleSeconds(absl::Now() - waits_done_);
    lead_seconds_ = lead_seconds_ == 0.0 ? lead : 0.8 * lead_seconds_ + 0.2 * lead;
  }
  HOBBIT_RETURN_IF_ERROR(EnsureScratch(routing.n_tokens));
  run_x_ = x;
  run_out_ = out;
  ready_.clear();
  layer_link_bytes_ = layer_host_bytes_ = 0;
  if (host_) host_->Clear();  // an earlier Run that failed may have left experts queued
  std::vector<Work> work = Group(routing);
  for (Work& w : work) HOBBIT_RETURN_IF_ERROR(Resolve(layer, w));
  if (prefetcher_) HOBBIT_RETURN_IF_ERROR(Prefetch(layer, x, routing));
  if (host_ && !host_->empty()) {
    // The CPU path works on the layer input while the device runs the other experts. Whatever
    // Flush returns, the background work is joined before Run returns.
    x_host_.resize(static_cast<size_t>(routing.n_tokens) * config_.n_embd);
    absl::Status down = backend_->CopyToHost(x_host_.data(), x, x_host_.size() * sizeof(float));
    if (!down.ok()) {
      host_->Clear();
      return down;
    }
    host_->Start(x_host_.data());
    absl::Status flushed = Flush(layer);
    absl::Status added = FinishHost(out);
    HOBBIT_RETURN_IF_ERROR(flushed);
    HOBBIT_RETURN_IF_ERROR(added);
  } else {
    HOBBIT_RETURN_IF_ERROR(Flush(layer));
  }
  waits_done_ = absl::Now();
  last_layer_ = layer;
  // Kept on disk now and then too, not only at exit: a crash keeps most of what was learned.
  if (lookups_since_save_ >= (uint64_t{1} << 20)) SaveUsage();
  SettlePrefetches(layer);
  return absl::OkStatus();
}

absl::Status OffloadedExpertFfn::Resolve(int32_t layer, Work& w) {
  const LoadDecision batch = *std::min_element(w.wants.begin(), w.wants.end());
  const size_t first = static_cast<size_t>(std::find(w.wants.begin(), w.wants.end(), batch) - w.wants.begin());
  const int32_t high_slot = cache_->Find(Precision::kHigh, layer, w.expert);
  const int32_t low_slot = cache_->Find(Precision::kLow, layer, w.expert);
  enum { kHitHigh, kHitLow, kMissHigh, kMissLow, kMissSkip } outcome;
  if (high_slot >= 0) {
    outcome = kHitHigh;
    w.precision = Precision::kHigh;
    w.slot = high_slot;
  } else if (low_slot >= 0 && !(w.strict_high && cache_->num_slots(Precision::kHigh) > 0)) {
    outcome = kHitLow;
    w.precision = Precision::kLow;
    w.slot = low_slot;
  } else if (batch == LoadDecision::kSkip) {
    outcome = kMissSkip;
    w.skip = true;
  } else {
    w.precision = Available(batch);
    outcome = w.precision == Precision::kHigh ? kMissHigh : kMissLow;
    const int64_t bytes = store_->copy(w.precision == Precision::kHigh, layer, w.expert).bytes();
    if (RunOnHost(bytes)) {
      w.on_host = true;
      layer_host_bytes_ += bytes;
    } else {
      layer_link_bytes_ += bytes;
      HOBBIT_ASSIGN_OR_RETURN(w.slot, Load(layer, w.expert, w.precision, layer, w.seqs[first], false));
    }
  }
  if (!usage_counts_.empty()) {
    usage_counts_[static_cast<size_t>(layer) * config_.n_expert + w.expert] += w.rows.size();
    lookups_since_save_ += w.rows.size();
  }
  for (size_t i = 0; i < w.rows.size(); ++i) {
    for (ExpertStats* s : {&total_, &SeqStats(w.seqs[i])}) {
      ++s->lookups;
      if (w.on_host) ++s->misses_host;
      switch (outcome) {
        case kHitHigh: ++s->hits_high; break;
        case kHitLow:
          ++s->hits_low;
          if (w.wants[i] == LoadDecision::kHigh) ++s->low_served_high;
          break;
        case kMissHigh: ++s->misses_high; break;
        case kMissLow: ++s->misses_low; break;
        case kMissSkip: ++s->misses_skip; break;
      }
    }
    if (!w.skip) {
      cache_->usage().RecordUse(w.seqs[i], token_index_[w.rows[i]], layer, w.expert, w.precision == Precision::kHigh);
    }
  }
  if (w.skip) return absl::OkStatus();
  if (w.on_host) {
    host_->Add(store_->copy(w.precision == Precision::kHigh, layer, w.expert), w.rows, w.scales);
    return absl::OkStatus();
  }
  for (PrefetchEntry& p : prefetches_) {
    if (p.layer == layer && p.expert == w.expert && p.precision == w.precision && p.slot == w.slot) p.used = true;
  }
  cache_->Pin(w.precision, w.slot);
  cache_->Touch(w.precision, w.slot);
  ready_.push_back(&w);
  return absl::OkStatus();
}

absl::StatusOr<int32_t> OffloadedExpertFfn::Load(int32_t layer, int32_t expert, Precision p, int32_t layer_now,
                                                 int64_t seq, bool prefetch) {
  absl::StatusOr<ExpertCache::Insertion> ins = cache_->Insert(p, layer, expert, layer_now);
  if (!prefetch && absl::IsResourceExhausted(ins.status())) {
    // Every slot is pinned: run the experts resolved so far to free theirs, then, if the
    // prefetches hold the rest, let those go (they stay resident, unpinned).
    HOBBIT_RETURN_IF_ERROR(Flush(layer));
    ins = cache_->Insert(p, layer, expert, layer_now);
    if (absl::IsResourceExhausted(ins.status())) {
      ReleasePrefetchPins();
      ins = cache_->Insert(p, layer, expert, layer_now);
    }
  }
  if (!ins.ok()) return ins.status();
  const int32_t slot = ins->slot;
  HOBBIT_ASSIGN_OR_RETURN(const uint64_t bytes, FillSlot(layer, expert, p, slot));
  for (ExpertStats* s : {&total_, &SeqStats(seq)}) {
    ++s->copies;
    (prefetch ? s->bytes_prefetch : s->bytes_demand) += bytes;
  }
  return slot;
}

absl::StatusOr<uint64_t> OffloadedExpertFfn::FillSlot(int32_t layer, int32_t expert, Precision p, int32_t slot) {
  const ExpertCopy& src = store_->copy(p == Precision::kHigh, layer, expert);
  uint8_t* dst = cache_->slot_data(p, slot);
  const int64_t up = AlignUp(src.gate.bytes());
  const int64_t down = up + AlignUp(src.up.bytes());
  CopyTicket done;
  for (const auto& [view, offset] : {std::pair{&src.gate, int64_t{0}}, {&src.up, up}, {&src.down, down}}) {
    HOBBIT_ASSIGN_OR_RETURN(done, link_->Copy(dst + offset, view->data, static_cast<size_t>(view->bytes())));
  }
  cache_->set_ready(p, slot, done);
  return static_cast<uint64_t>(src.bytes());
}

absl::Status OffloadedExpertFfn::Flush(int32_t layer) {
  std::vector<Work*> ready = std::move(ready_);
  ready_.clear();
  absl::Status status;
  for (Work* w : ready) {
    // After a failure the rest only give their pins back: a slot must not stay pinned forever.
    if (status.ok()) status = WaitAndCompute(layer, *w);
    cache_->Unpin(w->precision, w->slot);
  }
  return status;
}

absl::Status OffloadedExpertFfn::WaitAndCompute(int32_t layer, const Work& w) {
  const CopyTicket& ticket = cache_->ready(w.precision, w.slot);
  HOBBIT_ASSIGN_OR_RETURN(const bool arrived, link_->Done(ticket));
  const bool pending = !arrived;
  if (pending) {
    HOBBIT_ASSIGN_OR_RETURN(const double waited, link_->Wait(ticket));
    total_.load_wait_seconds += waited;
    SeqStats(w.seqs[0]).load_wait_seconds += waited;
  }
  for (PrefetchEntry& p : prefetches_) {
    if (p.layer == layer && p.expert == w.expert && p.slot == w.slot && p.precision == w.precision) {
      p.late = p.late || pending;
    }
  }
  return Compute(layer, w, run_x_, run_out_);
}

absl::Status OffloadedExpertFfn::Compute(int32_t layer, const Work& w, const float* x, float* out) {
  const ExpertCopy& src = store_->copy(w.precision == Precision::kHigh, layer, w.expert);
  const uint8_t* slot = cache_->slot_data(w.precision, w.slot);
  WeightView gate = src.gate, up = src.up, down = src.down;
  gate.data = slot;
  up.data = slot + AlignUp(src.gate.bytes());
  down.data = slot + AlignUp(src.gate.bytes()) + AlignUp(src.up.bytes());
  const auto n = static_cast<int32_t>(w.rows.size());
  float* xe = x_e_->as<float>();
  HOBBIT_RETURN_IF_ERROR(backend_->GatherRows(x, w.rows.data(), n, config_.n_embd, xe));
  HOBBIT_RETURN_IF_ERROR(backend_->MatMul(gate, xe, n, gate_->as<float>()));
  HOBBIT_RETURN_IF_ERROR(backend_->MatMul(up, xe, n, up_->as<float>()));
  HOBBIT_RETURN_IF_ERROR(
      backend_->SiluMul(gate_->as<float>(), up_->as<float>(), int64_t{n} * config_.n_ff_exp, gate_->as<float>()));
  HOBBIT_RETURN_IF_ERROR(backend_->MatMul(down, gate_->as<float>(), n, down_->as<float>()));
  return backend_->ScatterAddScaled(down_->as<float>(), w.rows.data(), w.scales.data(), n, config_.n_embd, out);
}

absl::Status OffloadedExpertFfn::Prefetch(int32_t layer, const float* x, const ExpertRouting& routing) {
  HOBBIT_RETURN_IF_ERROR(prefetcher_->Predict(layer, x, routing.n_tokens));
  const int32_t k = config_.n_expert_used;
  std::vector<float> scores(static_cast<size_t>(k));
  for (int32_t j = 0; j < prefetcher_->n_predicted(); ++j) {
    const int32_t target = layer + 1 + j;
    std::vector<LoadDecision> want(static_cast<size_t>(config_.n_expert), LoadDecision::kSkip);
    std::vector<int64_t> who(static_cast<size_t>(config_.n_expert), 0);
    for (int32_t t = 0; t < routing.n_tokens; ++t) {
      const int64_t seq = routing.seq_ids ? routing.seq_ids[t] : 0;
      UnimportanceScores(prefetcher_->weights(j, t), k, config_.norm_topk, scores.data());
      for (int32_t i = 0; i < k; ++i) {
        const int32_t e = prefetcher_->ids(j, t)[i];
        const LoadDecision d = PairWant(scores[i], seq);
        if (d < want[e]) {
          want[e] = d;
          who[e] = seq;
        }
      }
    }
    std::vector<int32_t> misses;
    for (int32_t e = 0; e < config_.n_expert; ++e) {
      if (want[e] != LoadDecision::kSkip && cache_->Find(Precision::kHigh, target, e) < 0 &&
          cache_->Find(Precision::kLow, target, e) < 0) {
        misses.push_back(e);
      }
    }
    if (misses.empty()) continue;  // adaptive depth: this layer is covered, look further ahead
    for (int32_t e : misses) {
      const Precision p = Available(want[e]);
      if (!PrefetchPays(store_->copy(p == Precision::kHigh, target, e).bytes())) continue;
      absl::StatusOr<int32_t> slot = Load(target, e, p, layer, who[e], true);
      if (absl::IsResourceExhausted(slot.status())) break;  // every slot pinned: prefetch no more
      if (!slot.ok()) return slot.status();
      cache_->Pin(p, *slot);
      prefetches_.push_back(PrefetchEntry{target, e, p, *slot, who[e]});
      ++total_.prefetch_issued;
      ++SeqStats(who[e]).prefetch_issued;
    }
    break;
  }
  return absl::OkStatus();
}

bool OffloadedExpertFfn::RunOnHost(int64_t bytes) const {
  if (!host_) return false;
  // Seconds until each path would finish this expert, counting what it already has this layer.
  const double link = static_cast<double>(layer_link_bytes_ + bytes) / link_bandwidth_;
  const double host = static_cast<double>(layer_host_bytes_ + bytes) / host_bandwidth_;
  return host < link;
}

absl::Status OffloadedExpertFfn::FinishHost(float* out) {
  HOBBIT_RETURN_IF_ERROR(host_->Finish());
  const auto n = static_cast<int32_t>(host_->rows().size());
  if (n == 0) return absl::OkStatus();
  const size_t bytes = host_->outputs().size() * sizeof(float);
  if (host_out_ == nullptr || host_out_->bytes() < bytes) {
    HOBBIT_RETURN_IF_ERROR(backend_->Synchronize());  // queued ops may still read the old buffer
    host_out_.reset();
    HOBBIT_ASSIGN_OR_RETURN(host_out_, backend_->Allocate(bytes, "CPU-path expert outputs"));
  }
  HOBBIT_RETURN_IF_ERROR(backend_->CopyToDevice(host_out_->data(), host_->outputs().data(), bytes));
  return backend_->ScatterAddScaled(host_out_->as<float>(), host_->rows().data(), host_->scales().data(), n,
                                    config_.n_embd, out);
}

bool OffloadedExpertFfn::PrefetchPays(int64_t bytes) const {
  if (!options_.prefetch_throttle) return true;
  const double copy_seconds = static_cast<double>(bytes) / link_bandwidth_;
  return prefetch_precision_ * lead_seconds_ >= (1.0 - prefetch_precision_) * copy_seconds;
}

void OffloadedExpertFfn::SettlePrefetches(int32_t layer) {
  auto settle = [&](PrefetchEntry& p) {
    if (p.layer > layer) return false;
    prefetch_precision_ = 0.95 * prefetch_precision_ + 0.05 * (p.used ? 1.0 : 0.0);
    for (ExpertStats* s : {&total_, &SeqStats(p.seq)}) {
      ++(p.used ? s->prefetch_used : s->prefetch_wasted);
      if (p.used && p.late) ++s->prefetch_late;
    }
    if (p.pinned) cache_->Unpin(p.precision, p.slot);
    return true;
  };
  prefetches_.erase(std::remove_if(prefetches_.begin(), prefetches_.end(), settle), prefetches_.end());
}

void OffloadedExpertFfn::ReleasePrefetchPins() {
  for (PrefetchEntry& p : prefetches_) {
    if (p.pinned) cache_->Unpin(p.precision, p.slot);
    p.pinned = false;
  }
}

}  // namespace hobbit::runtime
