#include "tools/hobbit_tool/bench_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/hobbit_tool/bench_json_writer.h"

namespace hobbit::tools {
namespace {

double Share(uint64_t part, uint64_t whole) { return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0; }

void Member(JsonWriter& w, const char* key, double v) { w.Key(key); w.Number(v); }
void MemberInt(JsonWriter& w, const char* key, int64_t v) { w.Key(key); w.Int(v); }
void MemberStr(JsonWriter& w, const char* key, const std::string& v) { w.Key(key); w.String(v); }
void MemberBool(JsonWriter& w, const char* key, bool v) { w.Key(key); w.Bool(v); }

template <typename T>
void IntArray(JsonWriter& w, const char* key, const std::vector<T>& v) {
  w.Key(key);
  w.BeginArray();
  for (T x : v) w.Int(x);
  w.EndArray();
}

void StringArray(JsonWriter& w, const char* key, const std::vector<std::string>& v) {
  w.Key(key);
  w.BeginArray();
  for (const std::string& x : v) w.String(x);
  w.EndArray();
}

void WriteExpertOptions(JsonWriter& w, const runtime::ExpertOptions& e) {
  w.Key("experts");
  w.BeginObject();
  MemberStr(w, "low_format", runtime::LowFormatName(e.low_format));
  Member(w, "high_pool_fraction", e.high_pool_fraction);
  Member(w, "w_lru", e.w_lru);
  Member(w, "w_lfu", e.w_lfu);
  Member(w, "w_lhu", e.w_lhu);
  Member(w, "w_fld", e.w_fld);
  MemberInt(w, "prefetch_depth", e.prefetch_depth);
  MemberBool(w, "prefetch_throttle", e.prefetch_throttle);
  MemberBool(w, "cpu_path", e.cpu_path);
  Member(w, "copy_bandwidth", e.copy_bandwidth);
  MemberBool(w, "pin_host", e.pin_host);
  w.EndObject();
}

void WriteStats(JsonWriter& w, const runtime::ExpertStats& s) {
  w.BeginObject();
  const std::pair<const char*, uint64_t> counts[] = {
      {"lookups", s.lookups},           {"hits_high", s.hits_high},
      {"hits_low", s.hits_low},         {"low_served_high", s.low_served_high},
      {"misses_high", s.misses_high},   {"misses_low", s.misses_low},
      {"misses_skip", s.misses_skip},   {"misses_host", s.misses_host}, {"copies", s.copies},
      {"bytes_demand", s.bytes_demand}, {"bytes_prefetch", s.bytes_prefetch},
      {"prefetch_issued", s.prefetch_issued}, {"prefetch_used", s.prefetch_used},
      {"prefetch_wasted", s.prefetch_wasted}, {"prefetch_late", s.prefetch_late},
      {"tokens", s.tokens}};
  for (const auto& [key, v] : counts) MemberInt(w, key, static_cast<int64_t>(v));
  Member(w, "load_wait_seconds", s.load_wait_seconds);
  const uint64_t misses = s.misses_high + s.misses_low + s.misses_skip;
  Member(w, "hit_rate_high_pool", Share(s.hits_high, s.lookups));
  Member(w, "hit_rate_low_pool", Share(s.hits_low, s.lookups));
  Member(w, "miss_split_high", Share(s.misses_high, misses));
  Member(w, "miss_split_low", Share(s.misses_low, misses));
  Member(w, "miss_split_skip", Share(s.misses_skip, misses));
  const double tokens = s.tokens > 0 ? static_cast<double>(s.tokens) : 1.0;
  Member(w, "bytes_demand_per_token", static_cast<double>(s.bytes_demand) / tokens);
  Member(w, "bytes_prefetch_per_token", static_cast<double>(s.bytes_prefetch) / tokens);
  w.EndObject();
}

void WritePhase(JsonWriter& w, const PhaseFigures& f) {
  w.BeginObject();
  MemberStr(w, "name", f.name);
  MemberInt(w, "batch", f.batch);
  MemberInt(w, "steps", f.steps);
  MemberInt(w, "tokens", f.tokens);
  Member(w, "seconds", f.seconds);
  if (!f.run_seconds.empty()) {
    w.Key("run_seconds");
    w.BeginArray();
    for (double t : f.run_seconds) w.Number(t);
    w.EndArray();
  }
  Member(w, "tokens_per_second", f.tokens_per_second());
  Member(w, "transfer_floor_seconds", f.floor_seconds);
  Member(w, "ratio_to_floor", f.floor_ratio);
  w.Key("experts");
  WriteStats(w, f.experts);
  w.EndObject();
}

// Batch-1 decode's share of the HBM roofline: tokens/s x bytes a token reads / bandwidth (0 when
// no bandwidth was given).
double RooflineFraction(const BenchConfig& c, const ModeResult& r) {
  if (c.roofline_bytes_per_second <= 0.0) return 0.0;
  return r.decode.tokens_per_second() * static_cast<double>(c.decode_weight_bytes) / c.roofline_bytes_per_second;
}

void WriteResult(JsonWriter& w, const ModeResult& r, const BenchConfig& c) {
  w.BeginObject();
  MemberStr(w, "mode", runtime::ExpertModeName(r.mode));
  MemberStr(w, "budget", r.budget_label);
  MemberInt(w, "budget_bytes", r.budget_bytes);
  if (r.mode == runtime::ExpertMode::kHobbit) {
    Member(w, "t1", r.thresholds.t1);
    Member(w, "t2", r.thresholds.t2);
  }
  if (!r.error.empty()) {
    MemberStr(w, "error", r.error);
    w.EndObject();
    return;
  }
  MemberInt(w, "high_slots", r.high_slots);
  MemberInt(w, "low_slots", r.low_slots);
  // Resident's share of the HBM roofline (the offloading modes are bound by the link instead).
  if (r.mode == runtime::ExpertMode::kResident && c.roofline_bytes_per_second > 0.0) {
    Member(w, "decode_roofline_fraction", RooflineFraction(c, r));
  }
  Member(w, "load_seconds", r.load_seconds);
  w.Key("recordings");
  w.BeginObject();
  MemberInt(w, "recorded", r.recordings.recorded);
  MemberInt(w, "replayed_steps", r.recordings.replayed);
  MemberInt(w, "failed", r.recordings.failed);
  w.EndObject();
  w.Key("phases");
  w.BeginArray();
  WritePhase(w, r.decode);
  if (r.batch) WritePhase(w, *r.batch);
  for (const PhaseFigures& f : r.prefill) WritePhase(w, f);
  w.EndArray();
  w.Key("quality");
  w.BeginObject();
  MemberInt(w, "positions", r.quality.positions);
  Member(w, "top1_agreement", r.quality.top1_agreement);
  Member(w, "mean_kl", r.quality.mean_kl);
  Member(w, "max_kl", r.quality.max_kl);
  Member(w, "mean_nll", r.quality.mean_nll);
  Member(w, "perplexity", r.quality.perplexity);
  w.EndObject();
  w.EndObject();
}

void WriteCandidate(JsonWriter& w, const char* key, const TuneCandidate& c) {
  w.Key(key);
  w.BeginObject();
  Member(w, "w_lru", c.w_lru);
  Member(w, "w_lfu", c.w_lfu);
  Member(w, "w_lhu", c.w_lhu);
  Member(w, "w_fld", c.w_fld);
  MemberInt(w, "miss_penalty_bytes", c.penalty_bytes);
  MemberInt(w, "hits", static_cast<int64_t>(c.hits));
  MemberInt(w, "misses_high", static_cast<int64_t>(c.misses_high));
  MemberInt(w, "misses_low", static_cast<int64_t>(c.misses_low));
  MemberInt(w, "misses_skip", static_cast<int64_t>(c.misses_skip));
  w.EndObject();
}

void WriteConfig(JsonWriter& w, const BenchConfig& c) {
  w.BeginObject();
  MemberStr(w, "model", c.source);
  MemberStr(w, "architecture", c.architecture);
  MemberStr(w, "model_name", c.model_name);
  const std::pair<const char*, int64_t> ints[] = {
      {"n_layer", c.n_layer}, {"n_expert", c.n_expert}, {"n_expert_used", c.n_expert_used},
      {"n_embd", c.n_embd},   {"n_ff_exp", c.n_ff_exp}, {"n_vocab", c.n_vocab},
      {"all_expert_bytes", c.all_expert_bytes}, {"all_expert_low_bytes", c.all_expert_low_bytes},
      {"stream_tokens", c.stream_tokens}, {"prompt_tokens", c.prompt_tokens}, {"warmup", c.warmup},
      {"batch", c.batch}, {"batch_steps", c.batch_steps}};
  for (const auto& [key, v] : ints) MemberInt(w, key, v);
  MemberStr(w, "expert_type", c.expert_type);
  MemberStr(w, "low_type", c.low_type);
  MemberStr(w, "backend", c.backend);
  MemberBool(w, "device_routing", c.device_routing);
  MemberBool(w, "cuda_graphs", c.cuda_graphs);
  MemberStr(w, "prefill_precision", c.prefill_precision);
  MemberStr(w, "kv_type", c.kv_type);
  Member(w, "link_bytes_per_second", c.link_bytes_per_second);
  MemberInt(w, "decode_weight_bytes", c.decode_weight_bytes);
  Member(w, "roofline_bytes_per_second", c.roofline_bytes_per_second);
  MemberStr(w, "stream", c.stream_source);
  IntArray(w, "prefill", c.prefill);
  MemberInt(w, "prefill_runs", c.prefill_runs);
  StringArray(w, "modes", c.modes);
  StringArray(w, "budgets", c.budgets);
  IntArray(w, "budget_bytes", c.budget_bytes);
  WriteExpertOptions(w, c.experts);
  w.Key("hobbit_thresholds");
  w.BeginArray();
  for (const runtime::PrecisionThresholds& t : c.hobbit_thresholds) {
    w.BeginArray();
    w.Number(t.t1);
    w.Number(t.t2);
    w.EndArray();
  }
  w.EndArray();
  if (!c.synth_type.empty()) {
    MemberStr(w, "synth_type", c.synth_type);
    MemberInt(w, "synth_layers", c.synth_layers);
  }
  MemberInt(w, "seed", static_cast<int64_t>(c.seed));
  MemberInt(w, "probe_bytes", c.probe_bytes);
  MemberInt(w, "probe_repeats", c.probe_repeats);
  MemberInt(w, "calib_tokens", c.calib_tokens);
  Member(w, "tune_step", c.tune_step);
  IntArray(w, "stream_ids", c.stream_ids);
  w.EndObject();
}

std::string Bytes(double b) {
  if (b >= 1e9) return absl::StrFormat("%.2fG", b / 1e9);
  if (b >= 1e6) return absl::StrFormat("%.1fM", b / 1e6);
  if (b >= 1e3) return absl::StrFormat("%.1fk", b / 1e3);
  return absl::StrFormat("%.0f", b);
}

// The mode (hobbit with its thresholds) and the budget, 25 columns.
std::string Label(const ModeResult& r) {
  std::string mode = runtime::ExpertModeName(r.mode);
  if (r.mode == runtime::ExpertMode::kHobbit) absl::StrAppend(&mode, absl::StrFormat(" %.2g/%.2g", r.thresholds.t1, r.thresholds.t2));
  return absl::StrFormat("%-16s %-8s", mode, r.budget_label.empty() ? "-" : r.budget_label);
}

std::string SpeedTable(const std::vector<ModeResult>& results) {
  std::string out = absl::StrFormat("%-16s %-8s %9s %9s %9s %10s %10s %8s %9s %6s %8s %9s %9s\n", "mode", "budget",
                                    "slots h/l", "b1 tok/s", "b1 ratio", "batch t/s", "bat ratio", "B/tok dem",
                                    "B/tok pre", "wait%", "floor s", "prefill s", "pf ratio");
  for (const ModeResult& r : results) {
    if (!r.error.empty()) {
      absl::StrAppend(&out, Label(r), " failed: ", r.error, "\n");
      continue;
    }
    const runtime::ExpertStats& s = r.decode.experts;
    const double tokens = s.tokens > 0 ? static_cast<double>(s.tokens) : 1.0;
    std::string prefill, pf_ratio;
    for (const PhaseFigures& f : r.prefill) {
      absl::StrAppend(&prefill, prefill.empty() ? "" : "/", absl::StrFormat("%.3g", f.seconds));
      absl::StrAppend(&pf_ratio, pf_ratio.empty() ? "" : "/", absl::StrFormat("%.2f", f.floor_ratio));
    }
    absl::StrAppend(
        &out, Label(r),
        absl::StrFormat(" %9s %9.2f %9.2f %10.2f %10.2f %8s %9s %6.1f %8.3f %9s %9s\n",
                        r.mode == runtime::ExpertMode::kResident ? "-" : absl::StrCat(r.high_slots, "/", r.low_slots),
                        r.decode.tokens_per_second(), r.decode.floor_ratio,
                        r.batch ? r.batch->tokens_per_second() : 0.0, r.batch ? r.batch->floor_ratio : 0.0,
                        Bytes(s.bytes_demand / tokens), Bytes(s.bytes_prefetch / tokens),
                        r.decode.seconds > 0 ? 100.0 * s.load_wait_seconds / r.decode.seconds : 0.0,
                        r.decode.floor_seconds, prefill.empty() ? "-" : prefill, pf_ratio.empty() ? "-" : pf_ratio));
  }
  return out;
}

std::string CacheTable(const std::vector<ModeResult>& results) {
  std::string out = absl::StrFormat("%-16s %-8s %6s %6s %16s %6s %20s %7s %10s %9s %9s\n", "mode", "budget", "hit hi",
                                    "hit lo", "miss hi/lo/skip%", "lo>hi", "prefetch i/u/w/late", "top1", "mean KL",
                                    "NLL", "ppl");
  for (const ModeResult& r : results) {
    if (!r.error.empty()) continue;  // the speed table says why
    const runtime::ExpertStats& s = r.decode.experts;
    const uint64_t misses = s.misses_high + s.misses_low + s.misses_skip;
    absl::StrAppend(
        &out, Label(r),
        absl::StrFormat(" %5.1f%% %5.1f%% %16s %6d %20s %7.4f %10.3g %9.4f %9.3f\n", 100 * Share(s.hits_high, s.lookups),
                        100 * Share(s.hits_low, s.lookups),
                        absl::StrFormat("%.0f/%.0f/%.0f", 100 * Share(s.misses_high, misses),
                                        100 * Share(s.misses_low, misses), 100 * Share(s.misses_skip, misses)),
                        s.low_served_high,
                        absl::StrCat(s.prefetch_issued, "/", s.prefetch_used, "/", s.prefetch_wasted, "/", s.prefetch_late),
                        r.quality.top1_agreement, r.quality.mean_kl, r.quality.mean_nll, r.quality.perplexity));
  }
  return out;
}

std::string TuneTable(const std::vector<TuneResult>& tuning) {
  std::string out = absl::StrFormat("%-8s %12s %12s %12s %28s %12s %8s %8s\n", "budget", "LRU bytes", "LFU bytes",
                                    "config bytes", "best w lru/lfu/lhu/fld", "best bytes", "vs LRU", "vs LFU");
  for (const TuneResult& t : tuning) {
    auto gain = [&](const TuneCandidate& base) {
      return base.penalty_bytes > 0 ? 100.0 * (1.0 - static_cast<double>(t.best.penalty_bytes) / base.penalty_bytes) : 0.0;
    };
    absl::StrAppend(&out, absl::StrFormat("%-8s %12s %12s %12s %28s %12s %7.1f%% %7.1f%%\n", t.budget_label,
                                          Bytes(t.lru.penalty_bytes), Bytes(t.lfu.penalty_bytes),
                                          Bytes(t.configured.penalty_bytes),
                                          absl::StrFormat("%.2f/%.2f/%.2f/%.2f", t.best.w_lru, t.best.w_lfu,
                                                          t.best.w_lhu, t.best.w_fld),
                                          Bytes(t.best.penalty_bytes), gain(t.lru), gain(t.lfu)));
  }
  return out;
}

}  // namespace

std::string BenchJson(const BenchConfig& config, const std::vector<ModeResult>& results,
                      const std::vector<TuneResult>& tuning) {
  JsonWriter w;
  w.BeginObject();
  w.Key("config");
  WriteConfig(w, config);
  w.Key("results");
  w.BeginArray();
  for (const ModeResult& r : results) WriteResult(w, r, config);
  w.EndArray();
  w.Key("tuning");
  w.BeginArray();
  for (const TuneResult& t : tuning) {
    w.BeginObject();
    MemberStr(w, "budget", t.budget_label);
    MemberInt(w, "budget_bytes", t.budget_bytes);
    MemberInt(w, "lookups", t.lookups);
    MemberInt(w, "grid_points", t.grid_points);
    WriteCandidate(w, "lru", t.lru);
    WriteCandidate(w, "lfu", t.lfu);
    WriteCandidate(w, "configured", t.configured);
    WriteCandidate(w, "best", t.best);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str() + "\n";
}

std::string BenchTables(const BenchConfig& c, const std::vector<ModeResult>& results,
                        const std::vector<TuneResult>& tuning) {
  std::string out = absl::StrFormat(
      "\n%s: %s, %d layers, %d experts (top-%d), experts %s (%s all, low %s %s), backend %s, KV cache %s, link "
      "%.2f GB/s\n",
      c.source, c.architecture, c.n_layer, c.n_expert, c.n_expert_used, c.expert_type, Bytes(c.all_expert_bytes),
      c.low_type.empty() ? "-" : c.low_type, Bytes(c.all_expert_low_bytes), c.backend, c.kv_type,
      c.link_bytes_per_second / 1e9);
  absl::StrAppend(&out, absl::StrFormat("stream: %s, %d tokens (%d warm-up); batch %d x %d steps; a decode token "
                                        "reads %s of weights\n\n",
                                        c.stream_source, c.stream_tokens, c.warmup, c.batch, c.batch_steps,
                                        Bytes(c.decode_weight_bytes)));
  absl::StrAppend(&out, "speed (b1 = the stream at batch 1; ratio = measured / transfer floor):\n", SpeedTable(results));
  for (const ModeResult& r : results) {
    if (r.mode != runtime::ExpertMode::kResident || !r.error.empty() || c.roofline_bytes_per_second <= 0.0) continue;
    absl::StrAppend(&out, absl::StrFormat("resident at batch 1: %.1f %% of the roofline (%s of weights a token at "
                                          "%.0f GB/s: %.0f tok/s)\n",
                                          100.0 * RooflineFraction(c, r), Bytes(c.decode_weight_bytes),
                                          c.roofline_bytes_per_second / 1e9,
                                          c.roofline_bytes_per_second / static_cast<double>(c.decode_weight_bytes)));
  }
  absl::StrAppend(&out, "\ncache and quality (the stream at batch 1, warm; quality over every position):\n",
                  CacheTable(results));
  if (!tuning.empty()) {
    absl::StrAppend(&out, "\neviction weights tuned on the calibration trace (miss penalty, lower is better):\n",
                    TuneTable(tuning));
  }
  return out;
}

}  // namespace hobbit::tools
