// BenchOptions: the configuration of one `hobbit-tool bench` run, parsed from its flags, and the
// parsing of expert budgets ("0.25" of all experts, "1.5GB", "2GiB", "123456789" bytes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/kv_cache_type.h"
#include "runtime/backend/prefill_precision.h"
#include "runtime/experts/expert_options.h"
#include "tools/hobbit_tool/flag_parser.h"

namespace hobbit::tools {

// A GPU expert budget as given: a fraction of the bytes of every routed expert's high copy, or
// absolute bytes. Resolve() turns either into bytes once the model is known.
struct BenchBudget {
  std::string label;      // as written on the command line
  double fraction = 0.0;  // > 0 for a fractional budget
  int64_t bytes = 0;      // > 0 for an absolute budget

  int64_t Resolve(int64_t all_expert_bytes) const {
    return fraction > 0.0 ? static_cast<int64_t>(fraction * static_cast<double>(all_expert_bytes)) : bytes;
  }
};

// A plain number in (0, 1] is a fraction; a plain integer above 1 is bytes; a number with a unit
// (B, KB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024) is bytes.
absl::StatusOr<BenchBudget> ParseBudget(std::string_view text);

struct BenchOptions {
  // The model: a GGUF file, or a preset synthesized in memory.
  std::string model_path;
  std::string preset;
  int32_t layers = 0;
  kernels::GgmlType type = kernels::GgmlType::kF16;
  uint64_t seed = 1;
  std::string backend = "auto";
  int32_t threads = 0;

  std::vector<runtime::ExpertMode> modes;
  std::vector<BenchBudget> budgets;
  // Offloading knobs every offloaded mode shares (mode and gpu_cache_bytes are set per run).
  runtime::ExpertOptions experts;
  // The hobbit mode runs once per pair (experts.balanced is the first).
  std::vector<runtime::PrecisionThresholds> hobbit_thresholds;

  // The teacher-forced stream: --text's tokens, or prompt_tokens seeded ids and then resident's
  // greedy continuation, stream_tokens in all; the first warmup steps are not timed.
  std::string text_path;
  int32_t stream_tokens = 128;
  int32_t prompt_tokens = 16;
  int32_t warmup = 8;
  int32_t batch = 8;         // sequences decoded together; 0 skips the batched phase
  int32_t batch_steps = 16;  // decode steps of the batched phase
  std::vector<int32_t> prefill = {128, 512};
  // Timed runs of each prefill length, each on its own tokens after one untimed run; the phase
  // reports their median (a process's first products of a shape pay cuBLAS's kernel choice).
  int32_t prefill_runs = 1;

  int64_t probe_bytes = int64_t{256} << 20;  // the pinned-bandwidth measurement
  int32_t probe_repeats = 5;
  // Device memory bandwidth for the roofline figure (bytes/s; 0: none printed). Measure it with
  // cuda-kernel-bench (its device-to-device copy line) on the machine the bench runs on.
  double roofline_bandwidth = 0.0;

  bool device_routing = true;  // resident: the router's choice stays on the device
  bool cuda_graphs = true;     // resident: decode steps' layers recorded and replayed
  // CUDA: products of more than 8 tokens (engine.prefill_precision)
  runtime::PrefillPrecision prefill_precision = runtime::PrefillPrecision::kF16;
  // The KV cache's element type (kv.type; auto resolved on the bench's backend): every phase's
  // sequences.
  kernels::KvCacheSetting kv_type = kernels::KvCacheSetting::kAuto;
  bool tune = false;           // item 4: tune the eviction weights by replaying a routing trace
  int32_t calib_tokens = 128;
  double tune_step = 0.25;    // grid step of the weights on the simplex

  std::string json_path;  // "" = no JSON
};

// Declares bench's flags on `flags` (for --help) and reads them back after parsing.
void AddBenchFlags(FlagParser& flags);
absl::StatusOr<BenchOptions> ReadBenchOptions(const FlagParser& flags);

}  // namespace hobbit::tools
