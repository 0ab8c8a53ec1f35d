// hobbit-tool bench: every expert mode on one model, in one process, on the same token stream:
// decode at batch 1 and batched, prefill, the loader's counters, the transfer floor, and quality
// against resident; a table last on stdout and, with --json, every figure as JSON.
#include <cstdio>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "runtime/backend/backend_factory.h"
#include "runtime/experts/copy_link.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/tokenizer_vocab.h"
#include "tools/hobbit_tool/bench_model_source.h"
#include "tools/hobbit_tool/bench_options.h"
#include "tools/hobbit_tool/bench_report.h"
#include "tools/hobbit_tool/bench_runner.h"
#include "tools/hobbit_tool/bench_tuner.h"
#include "tools/hobbit_tool/commands.h"
#include "tools/hobbit_tool/flag_parser.h"

namespace hobbit::tools {
namespace {

using runtime::ExpertMode;

// --text's tokens: the stream, then (for --tune) the calibration tokens after it.
absl::StatusOr<std::vector<int32_t>> TextTokens(const runtime::GgufFile& file, const std::string& path, size_t need) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--text: cannot open '", path, "'"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  HOBBIT_ASSIGN_OR_RETURN(runtime::TokenizerVocab vocab, runtime::LoadTokenizerVocab(file));
  HOBBIT_ASSIGN_OR_RETURN(auto tokenizer, runtime::Tokenizer::Create(std::move(vocab)));
  std::vector<int32_t> ids = tokenizer->Encode(text, /*add_special=*/true, /*parse_special=*/false);
  if (ids.size() < need) {
    return absl::InvalidArgumentError(absl::StrCat("--text: '", path, "' has ", ids.size(), " tokens; the run needs ", need,
                                                   " (--tokens, plus --calib-tokens with --tune)"));
  }
  return ids;
}

BenchConfig DescribeRun(const BenchOptions& o, const BenchModel& model, const runtime::ModelConfig& c,
                        const runtime::Backend& backend, double link, const runtime::ExpertStore* store) {
  BenchConfig b;
  b.source = model.source;
  b.architecture = c.architecture;
  b.model_name = c.name;
  b.n_layer = c.n_layer;
  b.n_expert = c.n_expert;
  b.n_expert_used = c.n_expert_used;
  b.n_embd = c.n_embd;
  b.n_ff_exp = c.n_ff_exp;
  b.n_vocab = c.n_vocab;
  if (const runtime::GgufTensorInfo* t = model.file->FindTensor("blk.0.ffn_gate_exps.weight")) {
    b.expert_type = kernels::GgmlTypeName(t->type);
  }
  if (store != nullptr && store->has_low()) {
    b.low_type = kernels::GgmlTypeName(store->low(0, 0).gate.type);
    b.all_expert_low_bytes = store->low_bytes_total();
  }
  b.all_expert_bytes = AllRoutedExpertBytes(*model.file);
  b.backend = std::string(backend.name());
  b.device_routing = o.device_routing && backend.device_routing_pays();
  b.cuda_graphs = o.cuda_graphs && backend.can_record();
  b.prefill_precision = std::string(
      runtime::PrefillPrecisionName(backend.name() == "cuda" ? o.prefill_precision : runtime::PrefillPrecision::kF32));
  b.kv_type = std::string(kernels::KvCacheTypeName(kernels::KvCacheTypeFor(o.kv_type, backend.name())));
  b.link_bytes_per_second = link;
  b.decode_weight_bytes = DecodeWeightBytes(*model.file, c.n_expert, c.n_expert_used);
  b.roofline_bytes_per_second = o.roofline_bandwidth;
  b.stream_source = o.text_path.empty() ? "seeded prompt + resident's greedy continuation" : absl::StrCat("text:", o.text_path);
  b.stream_tokens = o.stream_tokens;
  b.prompt_tokens = o.text_path.empty() ? o.prompt_tokens : 0;
  b.warmup = o.warmup;
  b.batch = o.batch;
  b.batch_steps = o.batch_steps;
  b.prefill = o.prefill;
  b.prefill_runs = o.prefill_runs;
  for (runtime::ExpertMode m : o.modes) b.modes.push_back(runtime::ExpertModeName(m));
  for (const BenchBudget& budget : o.budgets) {
    b.budgets.push_back(budget.label);
    b.budget_bytes.push_back(budget.Resolve(b.all_expert_bytes));
  }
  b.experts = o.experts;
  b.hobbit_thresholds = o.hobbit_thresholds;
  if (!o.preset.empty()) {
    b.synth_type = kernels::GgmlTypeName(o.type);
    b.synth_layers = c.n_layer;
  }
  b.seed = o.seed;
  b.probe_bytes = o.probe_bytes;
  b.probe_repeats = o.probe_repeats;
  b.calib_tokens = o.tune ? o.calib_tokens : 0;
  b.tune_step = o.tune ? o.tune_step : 0.0;
  return b;
}

void Progress(const ModeResult& r) {
  if (!r.error.empty()) {
    std::fprintf(stderr, "bench: %s @ %s failed: %s\n", runtime::ExpertModeName(r.mode), r.budget_label.c_str(),
                 r.error.c_str());
    return;
  }
  std::fprintf(stderr, "bench: %s%s%s: %.2f tok/s at batch 1, top-1 %.4f, KL %.3g (loaded in %.1f s)\n",
               runtime::ExpertModeName(r.mode), r.budget_label.empty() ? "" : " @ ", r.budget_label.c_str(),
               r.decode.tokens_per_second(), r.quality.top1_agreement, r.quality.mean_kl, r.load_seconds);
  const runtime::Model::RecordingStats& g = r.recordings;
  if (g.recorded + g.failed > 0) {
    std::fprintf(stderr, "bench: %s: %lld step shapes recorded, %lld steps replayed, %lld recordings failed\n",
                 runtime::ExpertModeName(r.mode), static_cast<long long>(g.recorded),
                 static_cast<long long>(g.replayed), static_cast<long long>(g.failed));
  }
}

// The run's figures so far; with --json they are saved after every mode, so a run cut short
// (a time limit, a crash in a later mode) keeps what it measured.
struct Session {
  Session(const BenchOptions& o, const BenchModel& m, const runtime::Backend& b) : options(o), model(m), backend(b) {}

  const BenchOptions& options;
  const BenchModel& model;
  const runtime::Backend& backend;
  double link = 0.0;
  std::vector<ModeResult> results;
  std::vector<TuneResult> tuning;

  absl::Status Save(const BenchRunner& runner) const {
    if (options.json_path.empty()) return absl::OkStatus();
    std::ofstream out(options.json_path);
    out << BenchJson(Describe(runner), results, tuning);
    if (!out) return absl::DataLossError(absl::StrCat("--json: writing '", options.json_path, "' failed"));
    return absl::OkStatus();
  }
  BenchConfig Describe(const BenchRunner& runner) const {
    BenchConfig c = DescribeRun(options, model, runner.config(), backend, link, runner.store().get());
    c.stream_ids = runner.stream();
    return c;
  }
};

// Every (budget, mode) after resident, in the order asked for (hobbit once per threshold pair).
// A run that fails (a budget too small for its pools, out of memory) is reported and the others
// still run.
absl::Status RunOffloadedModes(int64_t all_bytes, BenchRunner& runner, Session& session) {
  const BenchOptions& o = session.options;
  for (const BenchBudget& budget : o.budgets) {
    const int64_t bytes = budget.Resolve(all_bytes);
    for (ExpertMode m : o.modes) {
      if (m == ExpertMode::kResident) continue;
      const size_t variants = m == ExpertMode::kHobbit ? o.hobbit_thresholds.size() : 1;
      for (size_t v = 0; v < variants; ++v) {
        const runtime::PrecisionThresholds& t = o.hobbit_thresholds[v];
        absl::StatusOr<ModeResult> r = runner.RunOffloaded(m, budget, bytes, t);
        if (!r.ok()) {
          ModeResult failed;
          failed.mode = m;
          failed.budget_label = budget.label;
          failed.budget_bytes = bytes;
          failed.thresholds = t;
          failed.error = std::string(r.status().message());
          r = std::move(failed);
        }
        Progress(*r);
        session.results.push_back(std::move(*r));
        HOBBIT_RETURN_IF_ERROR(session.Save(runner));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> ReadText(const BenchOptions& o, const runtime::GgufFile& file) {
  if (o.text_path.empty()) return std::vector<int32_t>{};
  return TextTokens(file, o.text_path, static_cast<size_t>(o.stream_tokens) + (o.tune ? o.calib_tokens : 0));
}

absl::Status Bench(const FlagParser& flags, bool* some_failed) {
  HOBBIT_ASSIGN_OR_RETURN(BenchOptions o, ReadBenchOptions(flags));
  HOBBIT_ASSIGN_OR_RETURN(BenchModel model, OpenBenchModel(o));
  const runtime::GgufTensorInfo* embd = model.file->FindTensor("token_embd.weight");
  if (embd == nullptr) return absl::InvalidArgumentError(absl::StrCat(model.source, ": no token_embd.weight"));
  const auto n_vocab = static_cast<int32_t>(embd->ne[1]);
  runtime::BackendChoice choice;
  choice.name = o.backend;
  choice.cpu_threads = o.threads;
  choice.cuda_prefill_precision = o.prefill_precision;
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Backend> backend, runtime::CreateBackend(choice));
  Session session(o, model, *backend);
  HOBBIT_ASSIGN_OR_RETURN(session.link, runtime::MeasureCopyBandwidth(*backend, static_cast<size_t>(o.probe_bytes),
                                                                      o.probe_repeats));
  std::fprintf(stderr, "bench: pinned host->device copies at %.2f GB/s (%s backend)\n", session.link / 1e9,
               std::string(backend->name()).c_str());
  HOBBIT_ASSIGN_OR_RETURN(std::vector<int32_t> text, ReadText(o, *model.file));
  std::vector<int32_t> stream = text.empty() ? SeededTokens(o.prompt_tokens, n_vocab, o.seed)
                                             : std::vector<int32_t>(text.begin(), text.begin() + o.stream_tokens);
  BenchRunner runner(o, model.file, *backend, session.link, std::move(stream), /*generate=*/text.empty());
  HOBBIT_ASSIGN_OR_RETURN(ModeResult resident, runner.RunResident());
  Progress(resident);
  session.results.push_back(std::move(resident));
  HOBBIT_RETURN_IF_ERROR(session.Save(runner));
  const int64_t all_bytes = AllRoutedExpertBytes(*model.file);
  HOBBIT_RETURN_IF_ERROR(RunOffloadedModes(all_bytes, runner, session));
  if (o.tune) {
    std::vector<int32_t> calib = text.empty() ? SeededTokens(o.calib_tokens, n_vocab, o.seed + 7)
                                              : std::vector<int32_t>(text.begin() + o.stream_tokens,
                                                                     text.begin() + o.stream_tokens + o.calib_tokens);
    HOBBIT_ASSIGN_OR_RETURN(session.tuning,
                            TuneEvictionWeights(o, model.file, *backend, runner.store(), calib, all_bytes));
    HOBBIT_RETURN_IF_ERROR(session.Save(runner));
  }
  std::fputs(BenchTables(session.Describe(runner), session.results, session.tuning).c_str(), stdout);
  for (const ModeResult& r : session.results) *some_failed = *some_failed || !r.error.empty();
  return absl::OkStatus();
}

}  // namespace

int RunBench(const std::vector<std::string>& args) {
  FlagParser flags("bench");
  AddBenchFlags(flags);
  if (auto code = flags.ParseOrExit(args)) return *code;
  bool some_failed = false;
  if (auto s = Bench(flags, &some_failed); !s.ok()) {
    std::fprintf(stderr, "hobbit-tool bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (some_failed) std::fputs("hobbit-tool bench: some mode runs failed (see above)\n", stderr);
  return some_failed ? 1 : 0;
}

}  // namespace hobbit::tools
