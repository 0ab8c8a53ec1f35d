// OffloadedExpertFfn: the expert loader. Implements the ExpertFfn seam for the offloading modes
// (ExpertMode: ondemand-lru, static-low, hobbit) on top of ExpertStore (host copies),
// ExpertCache (device slot pools), CopyLink (asynchronous host->device copies) and Prefetcher.
//
// Per layer and step: every routed (token, expert) pair is resolved against the cache. A hit
// uses what is resident (high preferred; a low copy serving a pair that asked for high counts as
// low-served-high), except that a `quality` request is never served a low copy: the high copy is
// loaded. A miss is decided by the token-level rule (high / low / skip; hobbit mode
// only) and the batch rule (an expert's most precise request wins; skipped only if every token
// skips it); the chosen copy is copied into a slot. Then the next layers are predicted and
// prefetched (hobbit mode), the layer waits only for its own experts' copies (prefetches keep
// flowing meanwhile), and each expert runs once over
// its tokens on the resident copy, in expert order, accumulating the weighted outputs into out.
//
//   auto ffn = std::make_unique<OffloadedExpertFfn>(options.experts, file, progress);
//   OffloadedExpertFfn* loader = ffn.get();
//   HOBBIT_ASSIGN_OR_RETURN(auto model, Model::Load(file, backend, {.expert_ffn = std::move(ffn)}));
//   loader->BeginSequence(seq_id, ExpertPolicy::kSpeed);
//   ... steps ...
//   ExpertStats s = loader->EndSequence(seq_id);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "runtime/experts/copy_link.h"
#include "runtime/experts/expert_cache.h"
#include "runtime/experts/expert_options.h"
#include "runtime/experts/expert_stats.h"
#include "runtime/experts/expert_store.h"
#include "runtime/experts/host_expert_runner.h"
#include "runtime/experts/prefetcher.h"
#include "runtime/experts/usage_memory.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/expert_ffn.h"

namespace hobbit::runtime {

// Engine thread only (like every ExpertFfn): not thread-safe.
class OffloadedExpertFfn final : public ExpertFfn {
 public:
  // `file` is the model's file: the routers for prefetching and the identity of the low-copy
  // disk cache. `progress` (may be empty) gets one-line status messages while loading.
  // `store` (may be null): host copies built earlier for the same model, reused instead of
  // building the low copies again (e.g. by a benchmark that runs several modes in turn).
  OffloadedExpertFfn(const ExpertOptions& options, std::shared_ptr<const GgufFile> file,
                     std::function<void(std::string_view)> progress = {},
                     std::shared_ptr<const ExpertStore> store = nullptr);
  ~OffloadedExpertFfn() override;

  absl::Status Init(const ModelConfig& config, std::span<const LayerExperts> experts, Backend& backend) override;
  absl::Status Run(int32_t layer, const float* x, const ExpertRouting& routing, float* out) override;

  // Sets a sequence's precision policy (nullopt: the default), capped by the options.
  void BeginSequence(int64_t seq, std::optional<ExpertPolicy> policy);
  // Returns the sequence's statistics and drops its records.
  ExpertStats EndSequence(int64_t seq);
  ExpertStats sequence_stats(int64_t seq) const;
  const ExpertStats& total_stats() const { return total_; }
  void ResetStats();

  const ExpertStore& store() const { return *store_; }
  std::shared_ptr<const ExpertStore> shared_store() const { return store_; }
  const ExpertCache& cache() const { return *cache_; }

 private:
  struct Work;
  struct PrefetchEntry;
  struct SlotLayout {
    int64_t up = 0, down = 0, bytes = 0;  // offsets in a slot (gate at 0) and the total
  };

  absl::Status InitCache(Backend& backend);
  // experts.warm_start: reads the usage counts of earlier runs and copies the most used experts
  // into the empty cache. Problems with the file are warnings, not errors.
  absl::Status WarmStart();
  // Copies an expert's copy into a cache slot (on the link) and marks when it is ready; its bytes.
  absl::StatusOr<uint64_t> FillSlot(int32_t layer, int32_t expert, Precision p, int32_t slot);
  void SaveUsage();
  // The copy link and the CPU path, with their measured speeds.
  absl::Status InitPaths(Backend& backend);
  absl::Status EnsureScratch(int32_t n_tokens);
  void StartStep(const ExpertRouting& routing);
  std::vector<Work> Group(const ExpertRouting& routing) const;
  LoadDecision PairWant(float score, int64_t seq) const;
  // Whether the sequence's policy is `quality` (T1 = 1): its experts run in high precision even
  // when a low copy is resident.
  bool StrictHigh(int64_t seq) const;
  Precision Available(LoadDecision d) const;
  absl::Status Resolve(int32_t layer, Work& w);
  // Copies (layer, expert) into a new slot of pool p. On demand, a full pool first runs the
  // experts already resolved (freeing their pins), then drops the prefetch pins.
  absl::StatusOr<int32_t> Load(int32_t layer, int32_t expert, Precision p, int32_t layer_now, int64_t seq,
                               bool prefetch);
  absl::Status Flush(int32_t layer);
  // One resolved expert: waits for its copy, then runs it.
  absl::Status WaitAndCompute(int32_t layer, const Work& w);
  absl::Status Compute(int32_t layer, const Work& w, const float* x, float* out);
  absl::Status Prefetch(int32_t layer, const float* x, const ExpertRouting& routing);
  void SettlePrefetches(int32_t layer);
  void ReleasePrefetchPins();
  // The CPU path: whether a miss of `bytes` should run on the host (it would finish sooner).
  bool RunOnHost(int64_t bytes) const;
  // Adds the host-computed experts' outputs into the layer output.
  absl::Status FinishHost(float* out);
  // The throttle (ExpertOptions::prefetch_throttle): whether a prefetch of `bytes` is expected to pay.
  bool PrefetchPays(int64_t bytes) const;
  ExpertStats& SeqStats(int64_t seq) { return seq_stats_[seq]; }

  ExpertOptions options_;
  std::shared_ptr<const GgufFile> file_;
  std::function<void(std::string_view)> progress_;
  ModelConfig config_;
  Backend* backend_ = nullptr;
  std::shared_ptr<const ExpertStore> store_;
  std::unique_ptr<ExpertCache> cache_;
  std::unique_ptr<CopyLink> link_;
  std::unique_ptr<UsageMemory> usage_memory_;  // experts.warm_start with a state_dir
  std::vector<uint64_t> usage_counts_;          // lookups per (layer, expert), layer-major
  uint64_t lookups_since_save_ = 0;
  std::unique_ptr<Prefetcher> prefetcher_;
  SlotLayout max_high_, max_low_;

  PrecisionThresholds default_thresholds_;
  absl::flat_hash_map<int64_t, PrecisionThresholds> seq_thresholds_;
  absl::flat_hash_map<int64_t, ExpertStats> seq_stats_;
  ExpertStats total_;
  std::vector<int64_t> token_index_;  // per token of the current step: its index in its sequence
  std::vector<PrefetchEntry> prefetches_;
  // The layer being run: its input, output and the resolved experts waiting to run.
  const float* run_x_ = nullptr;
  float* run_out_ = nullptr;
  std::vector<Work*> ready_;

  // Prefetch throttle state: the link's bandwidth (bytes/s; infinity when copies are free), the
  // running share of prefetches used, and the running lead (seconds from the end of a layer's
  // copy waits to the next layer's start).
  double link_bandwidth_ = 0.0;
  // The CPU path: its runner and measured bandwidth, and the bytes each path got this layer.
  std::unique_ptr<HostExpertRunner> host_;
  double host_bandwidth_ = 0.0;
  int64_t layer_link_bytes_ = 0;
  int64_t layer_host_bytes_ = 0;
  std::vector<float> x_host_;
  std::unique_ptr<DeviceBuffer> host_out_;
  double prefetch_precision_ = 0.5;
  double lead_seconds_ = 0.0;
  int32_t last_layer_ = -1;
  absl::Time waits_done_ = absl::InfinitePast();

  int32_t scratch_tokens_ = 0;
  std::unique_ptr<DeviceBuffer> x_e_, gate_, up_, down_;
};

}  // namespace hobbit::runtime
