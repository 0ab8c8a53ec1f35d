// The figures of a `hobbit-tool bench` run: per phase (decode at batch 1, batched decode,
// prefill), per (mode, budget), and the run's configuration, as bench_report prints them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/experts/expert_options.h"
#include "runtime/experts/expert_stats.h"
#include "runtime/model/model.h"
#include "tools/hobbit_tool/bench_quality.h"

namespace hobbit::tools {

// One timed phase of one mode.
struct PhaseFigures {
  std::string name;     // "decode_b1", "decode_b8", "prefill_128", ...
  int32_t batch = 1;    // sequences per step
  int32_t steps = 0;    // model steps timed
  int64_t tokens = 0;   // tokens those steps ran
  double seconds = 0.0;
  std::vector<double> run_seconds;  // prefill: every timed run (seconds is their median)
  runtime::ExpertStats experts;  // counters over the timed steps only (zero for resident)
  // Transfer floor: bytes copied / measured pinned bandwidth + resident's seconds for this phase.
  double floor_seconds = 0.0;
  double floor_ratio = 0.0;  // seconds / floor_seconds

  double tokens_per_second() const { return seconds > 0.0 ? static_cast<double>(tokens) / seconds : 0.0; }
};

struct ModeResult {
  runtime::ExpertMode mode = runtime::ExpertMode::kResident;
  std::string budget_label;  // "" for resident
  int64_t budget_bytes = 0;  // 0 for resident
  runtime::PrecisionThresholds thresholds;  // the precision rule's (hobbit; the others ignore it)
  int32_t high_slots = 0;
  int32_t low_slots = 0;
  double load_seconds = 0.0;
  PhaseFigures decode;                 // the teacher-forced stream, one token per step
  std::optional<PhaseFigures> batch;   // --batch sequences decoded together
  std::vector<PhaseFigures> prefill;   // one per --prefill length
  QualityFigures quality;              // against resident over the whole stream
  runtime::Model::RecordingStats recordings;  // --cuda-graphs: steps recorded and replayed
  std::string error;                   // why the run failed ("" when it ran); no figures then
};

// The eviction-weight tuning of one budget (--tune): miss penalty in bytes of the replayed trace.
struct TuneCandidate {
  double w_lru = 0, w_lfu = 0, w_lhu = 0, w_fld = 0;
  int64_t penalty_bytes = 0;
  uint64_t misses_high = 0, misses_low = 0, misses_skip = 0, hits = 0;
};

struct TuneResult {
  std::string budget_label;
  int64_t budget_bytes = 0;
  int64_t lookups = 0;
  TuneCandidate lru, lfu, configured, best;
  int32_t grid_points = 0;
};

// What the run was: the model, the machine, and the knobs.
struct BenchConfig {
  std::string source;        // model path or synth:<preset>
  std::string architecture;
  std::string model_name;
  int32_t n_layer = 0, n_expert = 0, n_expert_used = 0, n_embd = 0, n_ff_exp = 0, n_vocab = 0;
  std::string expert_type;   // ggml type name of the routed experts
  std::string low_type;      // ggml type name of the low copies ("" when none were built)
  int64_t all_expert_bytes = 0;       // every routed expert's high copy
  int64_t all_expert_low_bytes = 0;   // every routed expert's low copy
  std::string backend;
  bool device_routing = false;  // resident: the router's choice stayed on the device
  bool cuda_graphs = false;     // resident: decode steps were recorded and replayed
  // CUDA: the arithmetic of products of more than 8 tokens (f16, tf32, f32); "f32" on the other
  // backends, which compute in float32 whatever the flag says.
  std::string prefill_precision = "f32";
  std::string kv_type = "f32";         // the KV cache's element type (--kv-type, resolved)
  double link_bytes_per_second = 0.0;  // measured pinned host->device bandwidth
  int64_t decode_weight_bytes = 0;     // weights one decode token reads at batch 1 (DecodeWeightBytes)
  double roofline_bytes_per_second = 0.0;  // --roofline-bandwidth (0: not given)
  std::string stream_source;  // "text:<path>" or "seeded prompt + resident greedy continuation"
  int32_t stream_tokens = 0, prompt_tokens = 0, warmup = 0, batch = 0, batch_steps = 0;
  std::vector<int32_t> prefill;
  int32_t prefill_runs = 1;     // timed runs per prefill length (phases report the median)
  std::vector<int32_t> stream_ids;  // the teacher-forced stream, for reproducing a figure
  // The knobs as given.
  std::vector<std::string> modes;
  std::vector<std::string> budgets;
  std::vector<int64_t> budget_bytes;  // each budget resolved
  runtime::ExpertOptions experts;     // shared by the offloaded modes (mode, gpu_cache_bytes per run)
  std::vector<runtime::PrecisionThresholds> hobbit_thresholds;  // hobbit runs once per pair
  std::string synth_type;             // --preset runs: the matrix type, layers and seed
  int32_t synth_layers = 0;
  uint64_t seed = 0;
  int64_t probe_bytes = 0;
  int32_t probe_repeats = 0;
  int32_t calib_tokens = 0;  // 0 without --tune
  double tune_step = 0.0;
};

}  // namespace hobbit::tools
