// ExpertOptions: every knob of expert offloading (hobbit-algorithms.md), with the paper's values
// as defaults. The engine carries one in EngineOptions::experts; server/ fills it from the
// `experts:` section of hobbitd.yaml. Defaults live here and nowhere else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace hobbit::runtime {

enum class ExpertMode {
  kResident,     // every expert in backend memory (the speed ceiling)
  kOndemandLru,  // high precision only, per-layer LRU, no prefetch, no skipping
  kStaticLow,    // every expert served from its low-precision copy
  kHobbit,       // token-level precision rule + adaptive prefetch + multidimensional cache
};

// The low-precision copy made at load time.
enum class LowFormat {
  kInt4,  // Q4_1: 32-element groups, fp16 scale + min (scale + zero point)
  kInt2,  // Q2_K: 16-element groups in 256-element super-blocks; Q4_1 where a row is not a
          // multiple of 256
  kAuto,  // int2 for 8-bit highs (Q8_0: the Jetson profile), int4 otherwise
};

// A request's precision policy as the expert loader sees it, most precise first.
enum class ExpertPolicy { kQuality, kBalanced, kSpeed };

// The two thresholds of the token-level rule (hobbit-algorithms.md §1): a missed expert with
// unimportance score s loads high if s <= t1, low if t1 < s <= t2, and is skipped if s > t2.
struct PrecisionThresholds {
  float t1 = 0.6f;
  float t2 = 0.9f;
};

struct ExpertOptions {
  ExpertMode mode = ExpertMode::kResident;
  // Device bytes of the expert cache, both pools together (ignored by kResident).
  int64_t gpu_cache_bytes = 0;
  // Share of gpu_cache_bytes given to the high-precision pool (kHobbit; kOndemandLru uses only
  // the high pool and kStaticLow only the low pool, each with the whole budget).
  double high_pool_fraction = 0.75;
  LowFormat low_format = LowFormat::kInt4;
  // Token-level rule for the balanced policy (the paper's Mixtral values) and for `speed`.
  PrecisionThresholds balanced;
  PrecisionThresholds speed{0.4f, 0.7f};
  // The least precise policy a request may ask for (the server's cap).
  ExpertPolicy fastest_policy = ExpertPolicy::kSpeed;
  // Policy of requests that do not ask for one.
  ExpertPolicy default_policy = ExpertPolicy::kBalanced;
  // Multidimensional eviction priority weights (§3); the paper publishes none, equal by default.
  double w_lru = 0.25;
  double w_lfu = 0.25;
  double w_lhu = 0.25;
  double w_fld = 0.25;
  // Prefetch depth p (§2); 0 disables prefetching.
  int32_t prefetch_depth = 3;
  // Issue a prefetch only when it is expected to pay: p * lead >= (1 - p) * copy time, where p
  // is the running share of prefetches used, lead the time the copy gets ahead of the layer that
  // needs it (a layer's compute, measured) and copy time its bytes over the link's bandwidth.
  // On a link-bound machine (copies much slower than compute) a wrong prefetch delays the demand
  // copies behind it by its whole copy time while a right one gains only the lead, so the
  // paper's unconditional prefetch slows decode; false = always prefetch (the paper).
  bool prefetch_throttle = true;
  // hobbit: compute a missed expert on the CPU from its host copy instead of copying it, when the
  // CPU would finish it sooner than the link (each path's queue this layer over its measured
  // bandwidth), so host cores and link serve misses together (hobbit-algorithms.md §6, ours).
  bool cpu_path = false;
  // Threads of the CPU path; 0 = all cores.
  int32_t cpu_path_threads = 0;
  // Host->device copy pacing in bytes/s (CPU backend: makes transfer time observable); 0 = none.
  double copy_bandwidth = 0.0;
  // Folder of the low-precision cache file; "" = no disk cache (rebuilt at every start).
  std::string state_dir;
  // With state_dir: count how often each expert is looked up, keep the counts there, and at the
  // next start fill the GPU cache with the most used experts instead of starting cold.
  bool warm_start = true;
  // Threads that build the low copies; 0 = all cores.
  int32_t build_threads = 0;
  // Keep the host copies in page-locked memory (the backend's pinned memory for the low copies,
  // the mapped file's experts registered) so host->device copies run at the link's speed.
  bool pin_host = true;
};

// "resident" | "ondemand-lru" | "static-low" | "hobbit".
std::optional<ExpertMode> ParseExpertMode(std::string_view name);
const char* ExpertModeName(ExpertMode mode);
// "int4" | "int2" | "auto".
std::optional<LowFormat> ParseLowFormat(std::string_view name);
const char* LowFormatName(LowFormat format);
// "quality" | "balanced" | "speed".
std::optional<ExpertPolicy> ParseExpertPolicy(std::string_view name);

// InvalidArgument naming the key (as in hobbitd.yaml: "experts.t1") of the first value out of
// range: thresholds in [0, 1] with t1 <= t2, weights >= 0 and not all 0, high_pool_fraction in
// [0, 1], prefetch_depth in [0, 16], copy_bandwidth >= 0, build_threads >= 0, and a positive
// gpu_cache_bytes for every mode but resident.
absl::Status ValidateExpertOptions(const ExpertOptions& options);

// The thresholds a request gets: its policy (or the default), made no faster than
// fastest_policy. quality is T1 = T2 = 1: never low, never skip.
PrecisionThresholds ThresholdsFor(const ExpertOptions& options, std::optional<ExpertPolicy> requested);

}  // namespace hobbit::runtime
