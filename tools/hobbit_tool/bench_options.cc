#include "tools/hobbit_tool/bench_options.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kernels/base/status_macros.h"
#include "tools/hobbit_tool/synth_model.h"

namespace hobbit::tools {
namespace {

struct Unit {
  const char* suffix;
  double scale;
};

constexpr Unit kUnits[] = {{"KIB", 1024.0},         {"MIB", 1048576.0}, {"GIB", 1073741824.0},
                           {"TIB", 1099511627776.0}, {"KB", 1e3},        {"MB", 1e6},
                           {"GB", 1e9},              {"TB", 1e12},       {"B", 1.0}};

absl::Status BadBudget(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--budgets: '", std::string(text), "' ", std::string(why)));
}

absl::StatusOr<std::vector<runtime::ExpertMode>> ParseModes(const std::string& text) {
  std::vector<runtime::ExpertMode> modes;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::optional<runtime::ExpertMode> m = runtime::ParseExpertMode(std::string_view(part.data(), part.size()));
    if (!m) {
      return absl::InvalidArgumentError(absl::StrCat("--modes: unknown mode '", part,
                                                     "' (resident, ondemand-lru, static-low, hobbit)"));
    }
    modes.push_back(*m);
  }
  if (modes.empty()) return absl::InvalidArgumentError("--modes: no modes");
  return modes;
}

absl::StatusOr<std::vector<double>> ParseDoubles(const std::string& text, const std::string& flag, size_t n) {
  std::vector<double> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    double v;
    if (!absl::SimpleAtod(part, &v) || !std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", part, "' is not a finite number"));
    }
    out.push_back(v);
  }
  if (out.size() != n) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": wants ", n, " numbers, got ", out.size()));
  return out;
}

// "T1,T2" pairs separated by '/'; each pair is checked as experts.t1/t2 are.
absl::StatusOr<std::vector<runtime::PrecisionThresholds>> ParseThresholds(const std::string& text) {
  std::vector<runtime::PrecisionThresholds> out;
  for (absl::string_view pair : absl::StrSplit(text, '/', absl::SkipWhitespace())) {
    HOBBIT_ASSIGN_OR_RETURN(std::vector<double> t, ParseDoubles(std::string(pair), "thresholds", 2));
    runtime::ExpertOptions check;
    check.mode = runtime::ExpertMode::kResident;
    check.balanced = {static_cast<float>(t[0]), static_cast<float>(t[1])};
    if (absl::Status s = runtime::ValidateExpertOptions(check); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--thresholds: '", pair, "': ", s.message()));
    }
    out.push_back(check.balanced);
  }
  if (out.empty()) return absl::InvalidArgumentError("--thresholds: no T1,T2 pair");
  return out;
}

// An on|off flag; anything else is refused naming the flag and the value.
absl::StatusOr<bool> OnOff(const FlagParser& flags, const char* name) {
  const std::string value = flags.GetString(name);
  if (value != "on" && value != "off") {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected on or off, got '", value, "'"));
  }
  return value == "on";
}

// --prefill-precision, refused like OnOff's flags when it names no precision.
absl::StatusOr<runtime::PrefillPrecision> PrefillPrecisionFlag(const FlagParser& flags) {
  const std::string value = flags.GetString("prefill-precision");
  const std::optional<runtime::PrefillPrecision> precision = runtime::ParsePrefillPrecision(value);
  if (!precision) {
    return absl::InvalidArgumentError(
        absl::StrCat("--prefill-precision: expected f16, tf32 or f32, got '", value, "'"));
  }
  return *precision;
}

// --kv-type, refused like --prefill-precision when it names no setting.
absl::StatusOr<kernels::KvCacheSetting> KvTypeFlag(const FlagParser& flags) {
  const std::string value = flags.GetString("kv-type");
  const std::optional<kernels::KvCacheSetting> type = kernels::ParseKvCacheSetting(value);
  if (!type) {
    return absl::InvalidArgumentError(absl::StrCat("--kv-type: expected auto, f16 or f32, got '", value, "'"));
  }
  return *type;
}

absl::Status ReadExpertKnobs(const FlagParser& flags, runtime::ExpertOptions& e,
                             std::vector<runtime::PrecisionThresholds>& thresholds) {
  const std::optional<runtime::LowFormat> low = runtime::ParseLowFormat(flags.GetString("low-format"));
  if (!low) return absl::InvalidArgumentError(absl::StrCat("--low-format: unknown format '", flags.GetString("low-format"), "'"));
  e.low_format = *low;
  HOBBIT_ASSIGN_OR_RETURN(e.high_pool_fraction, flags.GetDouble("high-pool-fraction"));
  HOBBIT_ASSIGN_OR_RETURN(thresholds, ParseThresholds(flags.GetString("thresholds")));
  e.balanced = thresholds.front();
  HOBBIT_ASSIGN_OR_RETURN(std::vector<double> w, ParseDoubles(flags.GetString("weights"), "weights", 4));
  e.w_lru = w[0];
  e.w_lfu = w[1];
  e.w_lhu = w[2];
  e.w_fld = w[3];
  HOBBIT_ASSIGN_OR_RETURN(int64_t depth, flags.GetInt("prefetch-depth", 0, 16));
  e.prefetch_depth = static_cast<int32_t>(depth);
  HOBBIT_ASSIGN_OR_RETURN(e.prefetch_throttle, OnOff(flags, "prefetch-throttle"));
  HOBBIT_ASSIGN_OR_RETURN(e.cpu_path, OnOff(flags, "cpu-path"));
  HOBBIT_ASSIGN_OR_RETURN(e.copy_bandwidth, flags.GetDouble("copy-bandwidth"));
  e.state_dir = flags.GetString("state-dir");
  // Runs must not depend on earlier runs: the cache always starts empty here.
  e.warm_start = false;
  // Budgets are per run (a fraction needs the model's size, known later); the rest of the
  // options are checked now, under any positive budget.
  e.gpu_cache_bytes = 1;
  e.mode = runtime::ExpertMode::kHobbit;
  return runtime::ValidateExpertOptions(e);
}

absl::Status ReadStreamKnobs(const FlagParser& flags, BenchOptions& o) {
  HOBBIT_ASSIGN_OR_RETURN(int64_t tokens, flags.GetInt("tokens", 2, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(int64_t prompt, flags.GetInt("prompt-tokens", 1, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(int64_t warmup, flags.GetInt("warmup", 0, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(int64_t batch, flags.GetInt("batch", 0, 1024));
  HOBBIT_ASSIGN_OR_RETURN(int64_t steps, flags.GetInt("batch-steps", 1, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(int64_t prefill_runs, flags.GetInt("prefill-runs", 1, 100));
  o.stream_tokens = static_cast<int32_t>(tokens);
  o.prompt_tokens = static_cast<int32_t>(prompt);
  o.warmup = static_cast<int32_t>(warmup);
  o.batch = static_cast<int32_t>(batch);
  o.batch_steps = static_cast<int32_t>(steps);
  o.prefill_runs = static_cast<int32_t>(prefill_runs);
  if (o.warmup + 1 >= o.stream_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("--warmup ", o.warmup, " leaves no timed step of --tokens ", o.stream_tokens));
  }
  o.prefill.clear();
  if (flags.GetString("prefill") != "none") {
    HOBBIT_ASSIGN_OR_RETURN(o.prefill, ParseIntList(flags.GetString("prefill"), "prefill"));
    for (int32_t n : o.prefill) {
      if (n <= 0) return absl::InvalidArgumentError(absl::StrCat("--prefill: ", n, " must be > 0"));
    }
  }
  o.text_path = flags.GetString("text");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BenchBudget> ParseBudget(std::string_view text) {
  BenchBudget b;
  b.label = std::string(text);
  std::string upper = absl::AsciiStrToUpper(std::string(absl::StripAsciiWhitespace(std::string(text))));
  double scale = 0.0;
  for (const Unit& u : kUnits) {
    const std::string suffix = u.suffix;
    if (upper.size() > suffix.size() && upper.compare(upper.size() - suffix.size(), suffix.size(), suffix) == 0) {
      upper.resize(upper.size() - suffix.size());
      scale = u.scale;
      break;
    }
  }
  double v;
  if (!absl::SimpleAtod(upper, &v) || !std::isfinite(v)) return BadBudget(text, "is not a number");
  if (v <= 0.0) return BadBudget(text, "must be > 0");
  if (scale == 0.0 && v <= 1.0) {
    b.fraction = v;
    return b;
  }
  if (scale == 0.0) {
    if (v != std::floor(v)) return BadBudget(text, "is neither a fraction in (0, 1] nor a whole number of bytes");
    scale = 1.0;
  }
  if (v * scale < 1.0 || v * scale > 9.2e18) return BadBudget(text, "is out of range");
  b.bytes = static_cast<int64_t>(v * scale);
  return b;
}

void AddBenchFlags(FlagParser& f) {
  f.Add("model", "GGUF model file (or --preset)");
  f.Add("preset", "synthesize this shape in memory instead (tiny, mixtral-8x7b, qwen3-30b-a3b, olmoe-1b-7b, "
                  "phi-3.5-moe): written to an unlinked temp file in /dev/shm (or $TMPDIR) and mapped; no file remains");
  f.Add("layers", "--preset: number of layers (0: the preset's)", false, false, "0");
  f.Add("type", "--preset: matrix type (f16, bf16, q8_0, q4_0, q4_k, ...)", false, false, "f16");
  f.Add("seed", "--preset weights, prompts and calibration tokens", false, false, "1");
  f.Add("backend", "cpu, cuda, or auto", false, false, "auto");
  f.Add("threads", "CPU threads (0: all cores)", false, false, "0");
  f.Add("modes", "modes to run, in one process (resident always runs: it is the reference)", false, false,
        "resident,ondemand-lru,static-low,hobbit");
  f.Add("budgets", "GPU expert budgets: fractions of all routed experts' high bytes (0.25) or bytes "
                   "(1.5GB, 2GiB, 123456789)", false, false, "0.25,0.5");
  f.Add("text", "held-out text: the stream is its tokens (perplexity is then meaningful)");
  f.Add("tokens", "teacher-forced stream length, one token per step (decode at batch 1)", false, false, "128");
  f.Add("prompt-tokens", "without --text: seeded prompt ids before resident's greedy continuation", false, false, "16");
  f.Add("warmup", "stream steps run before the timed ones (counters are reset after them)", false, false, "8");
  f.Add("batch", "sequences decoded together in the batched phase (0: skip it)", false, false, "8");
  f.Add("batch-steps", "timed decode steps of the batched phase (after 2 untimed ones)", false, false, "16");
  f.Add("prefill", "prompt lengths timed as one step each, or 'none'", false, false, "128,512");
  f.Add("prefill-runs", "timed runs of each prefill length (their own tokens each, after one untimed run); the "
                        "phase reports the median", false, false, "1");
  f.Add("low-format", "low-precision copy: int4, int2 or auto", false, false, "int4");
  f.Add("high-pool-fraction", "hobbit: share of the budget for high-precision slots", false, false, "0.75");
  f.Add("thresholds", "hobbit: T1,T2 of the precision rule; several pairs (0.6,0.9/0.4,0.7) run hobbit once "
                      "per pair", false, false, "0.6,0.9");
  f.Add("weights", "hobbit: eviction weights w_lru,w_lfu,w_lhu,w_fld", false, false, "0.25,0.25,0.25,0.25");
  f.Add("prefetch-depth", "hobbit: layers to look ahead (0: no prefetch)", false, false, "3");
  f.Add("device-routing", "resident: on = decode keeps the router's choice on the device (engine.device_routing; GPU only)",
        false, false, "on");
  f.Add("cuda-graphs", "resident with device routing: on = record a decode step's layers once per shape and replay "
                       "them (engine.cuda_graphs; GPU only)", false, false, "on");
  f.Add("prefill-precision", "CUDA: products of more than 8 tokens in f16 (FP16 tensor cores, FP32 sums), tf32 "
                             "(tensor cores in TF32) or f32 (engine.prefill_precision)", false, false, "f16");
  f.Add("kv-type", "the KV cache's element type: f16, f32, or auto = f16 on CUDA, f32 on the CPU (kv.type)", false,
        false, "auto");
  f.Add("state-dir", "keep the low-precision experts in this directory's cache and reuse them (experts.state_dir; "
                     "a --model file only: a synthesized one is new each run)", false, false, "");
  f.Add("cpu-path", "hobbit: on = compute a miss on the CPU when that beats copying it (experts.cpu_path)", false,
        false, "off");
  f.Add("prefetch-throttle", "hobbit: on = prefetch only when expected to pay (experts.prefetch_throttle), "
        "off = every predicted miss (the paper)", false, false, "on");
  f.Add("copy-bandwidth", "CPU backend: pace host->device copies to this many bytes/s (0: none)", false, false, "0");
  f.Add("probe-bytes", "bytes per pinned-bandwidth measurement copy", false, false, "268435456");
  f.Add("probe-repeats", "copies in the pinned-bandwidth measurement", false, false, "5");
  f.Add("roofline-bandwidth", "device memory bandwidth in bytes/s (e.g. 4.25e12: cuda-kernel-bench's device copy "
                              "line): print resident's batch-1 decode as a share of the HBM roofline (0: not printed)",
        false, false, "0");
  f.Add("tune", "tune the eviction weights: replay resident's routing on calibration tokens", false, true);
  f.Add("calib-tokens", "--tune: calibration tokens (after the stream in --text, else seeded ids)", false, false, "128");
  f.Add("tune-step", "--tune: grid step of the weights on the simplex", false, false, "0.25");
  f.Add("json", "write every figure and the configuration as JSON to this file");
}

absl::StatusOr<BenchOptions> ReadBenchOptions(const FlagParser& flags) {
  BenchOptions o;
  o.model_path = flags.GetString("model");
  o.preset = flags.GetString("preset");
  if (o.model_path.empty() == o.preset.empty()) return absl::InvalidArgumentError("give exactly one of --model and --preset");
  HOBBIT_ASSIGN_OR_RETURN(int64_t layers, flags.GetInt("layers", 0, 4096));
  HOBBIT_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0, INT64_MAX));
  HOBBIT_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0, 1024));
  HOBBIT_ASSIGN_OR_RETURN(o.type, ParseWeightType(flags.GetString("type")));
  o.layers = static_cast<int32_t>(layers);
  o.seed = static_cast<uint64_t>(seed);
  o.threads = static_cast<int32_t>(threads);
  o.backend = flags.GetString("backend");
  HOBBIT_ASSIGN_OR_RETURN(o.device_routing, OnOff(flags, "device-routing"));
  HOBBIT_ASSIGN_OR_RETURN(o.cuda_graphs, OnOff(flags, "cuda-graphs"));
  HOBBIT_ASSIGN_OR_RETURN(o.prefill_precision, PrefillPrecisionFlag(flags));
  HOBBIT_ASSIGN_OR_RETURN(o.kv_type, KvTypeFlag(flags));
  HOBBIT_ASSIGN_OR_RETURN(o.modes, ParseModes(flags.GetString("modes")));
  for (absl::string_view part : absl::StrSplit(flags.GetString("budgets"), ',', absl::SkipWhitespace())) {
    HOBBIT_ASSIGN_OR_RETURN(BenchBudget b, ParseBudget(std::string_view(part.data(), part.size())));
    o.budgets.push_back(b);
  }
  if (o.budgets.empty()) return absl::InvalidArgumentError("--budgets: no budgets");
  HOBBIT_RETURN_IF_ERROR(ReadExpertKnobs(flags, o.experts, o.hobbit_thresholds));
  if (!o.experts.state_dir.empty()) {
    if (!o.preset.empty()) {
      return absl::InvalidArgumentError(
          "--state-dir needs --model: a synthesized model is a new file each run, so its cache would never be reused "
          "(synthesize once with hobbit-tool synth and pass the file)");
    }
    struct stat st;
    if (::stat(o.experts.state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat("--state-dir: ", o.experts.state_dir, " is not a directory"));
    }
  }
  HOBBIT_RETURN_IF_ERROR(ReadStreamKnobs(flags, o));
  HOBBIT_ASSIGN_OR_RETURN(o.probe_bytes, flags.GetInt("probe-bytes", 1, int64_t{1} << 40));
  HOBBIT_ASSIGN_OR_RETURN(int64_t repeats, flags.GetInt("probe-repeats", 1, 1000));
  o.probe_repeats = static_cast<int32_t>(repeats);
  HOBBIT_ASSIGN_OR_RETURN(o.roofline_bandwidth, flags.GetDouble("roofline-bandwidth"));
  if (!(o.roofline_bandwidth >= 0.0) || std::isinf(o.roofline_bandwidth)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--roofline-bandwidth: ", o.roofline_bandwidth, " must be a finite number of bytes/s >= 0"));
  }
  o.tune = flags.GetSwitch("tune");
  HOBBIT_ASSIGN_OR_RETURN(int64_t calib, flags.GetInt("calib-tokens", 1, 1 << 20));
  o.calib_tokens = static_cast<int32_t>(calib);
  HOBBIT_ASSIGN_OR_RETURN(o.tune_step, flags.GetDouble("tune-step"));
  if (!(o.tune_step > 0.0 && o.tune_step <= 1.0)) return absl::InvalidArgumentError("--tune-step: must be in (0, 1]");
  o.json_path = flags.GetString("json");
  if (!o.json_path.empty()) {
    // Found out now, not after a run of minutes: the file can be written.
    std::ofstream probe(o.json_path, std::ios::app);
    if (!probe) return absl::InvalidArgumentError(absl::StrCat("--json: cannot write '", o.json_path, "'"));
  }
  return o;
}

}  // namespace hobbit::tools
