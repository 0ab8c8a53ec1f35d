#include "tools/hobbit_tool/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "runtime/kv/block_allocator.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/sequence_runner.h"

namespace hobbit::tools {
namespace {

using runtime::ExpertMode;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

constexpr int32_t kBlockSize = 16;
// Untimed decode steps of the batched phase before its timed ones (RunBatch).
constexpr int32_t kBatchWarmupSteps = 2;
// Seed offsets keep the phases' token ids apart from each other and from the stream's prompt.
constexpr uint64_t kBatchSeed = 1000;
constexpr uint64_t kPrefillSeed = 2000;
constexpr uint64_t kPrefillWarmSeed = 3000;
constexpr uint64_t kPrefillRunSeedStep = 100003;  // apart from the other seeds for any length

std::span<const float> Row(const runtime::StepOutput& out, int32_t row) {
  return {out.logits.data() + static_cast<size_t>(row) * out.n_vocab, static_cast<size_t>(out.n_vocab)};
}

}  // namespace

std::vector<int32_t> SeededTokens(int32_t n, int32_t n_vocab, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int32_t& t : out) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    t = static_cast<int32_t>(((s * 0x2545F4914F6CDD1Dull) >> 33) % static_cast<uint64_t>(n_vocab));
  }
  return out;
}

BenchRunner::BenchRunner(const BenchOptions& options, std::shared_ptr<const runtime::GgufFile> file,
                         runtime::Backend& backend, double link_bytes_per_second, std::vector<int32_t> stream,
                         bool generate)
    : options_(options),
      file_(std::move(file)),
      backend_(backend),
      link_bytes_per_second_(link_bytes_per_second),
      stream_(std::move(stream)),
      generate_(generate) {}

absl::StatusOr<BenchRunner::Loaded> BenchRunner::Load(const runtime::ExpertOptions& experts) {
  Loaded m;
  runtime::ModelLoadOptions load;
  load.device_routing = options_.device_routing && backend_.device_routing_pays();
  load.record_steps = options_.cuda_graphs && backend_.can_record();
  if (experts.mode != ExpertMode::kResident) {
    const bool store_fits = store_ != nullptr && (store_->has_low() || experts.mode == ExpertMode::kOndemandLru);
    auto loader = std::make_unique<runtime::OffloadedExpertFfn>(
        experts, file_, [](std::string_view line) { std::fprintf(stderr, "bench: %s\n", std::string(line).c_str()); },
        store_fits ? store_ : nullptr);
    m.loader = loader.get();
    load.expert_ffn = std::move(loader);
  }
  HOBBIT_ASSIGN_OR_RETURN(m.model, runtime::Model::Load(file_, backend_, std::move(load)));
  if (m.loader != nullptr && m.loader->store().has_low() && (store_ == nullptr || !store_->has_low())) {
    store_ = m.loader->shared_store();
  }
  return m;
}

absl::Status BenchRunner::CheckContext(const runtime::ModelConfig& c) const {
  const int64_t longest = std::max<int64_t>(
      {options_.stream_tokens, int64_t{options_.prompt_tokens} + kBatchWarmupSteps + options_.batch_steps,
       options_.prefill.empty() ? 0 : *std::max_element(options_.prefill.begin(), options_.prefill.end())});
  if (longest > c.n_ctx_train) {
    return absl::InvalidArgumentError(absl::StrCat("a sequence of ", longest, " tokens (--tokens, --prompt-tokens + ",
                                                   kBatchWarmupSteps, " warm-up steps + --batch-steps, or --prefill) ",
                                                   "exceeds the model's context of ", c.n_ctx_train));
  }
  if (static_cast<int64_t>(stream_.size()) < (generate_ ? options_.prompt_tokens : options_.stream_tokens)) {
    return absl::InvalidArgumentError(absl::StrCat("the stream has ", stream_.size(), " tokens, fewer than asked"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModeResult> BenchRunner::RunResident() {
  runtime::ExpertOptions experts = options_.experts;
  experts.mode = ExpertMode::kResident;
  const auto start = Clock::now();
  HOBBIT_ASSIGN_OR_RETURN(Loaded m, Load(experts));
  ModeResult r;
  r.load_seconds = Since(start);
  config_ = m.model->config();
  n_vocab_ = config_.n_vocab;
  HOBBIT_RETURN_IF_ERROR(CheckContext(m.model->config()));
  stream_.resize(static_cast<size_t>(options_.stream_tokens));
  HOBBIT_RETURN_IF_ERROR(RunStream(m, /*reference=*/true, &r));
  HOBBIT_RETURN_IF_ERROR(RunPhases(m, &r));
  resident_ = r;
  return r;
}

absl::StatusOr<ModeResult> BenchRunner::RunOffloaded(ExpertMode mode, const BenchBudget& budget, int64_t budget_bytes,
                                                     const runtime::PrecisionThresholds& thresholds) {
  if (!resident_) return absl::FailedPreconditionError("resident must run first (it is the reference)");
  runtime::ExpertOptions experts = options_.experts;
  experts.mode = mode;
  experts.gpu_cache_bytes = budget_bytes;
  experts.balanced = thresholds;
  ModeResult r;
  r.mode = mode;
  r.thresholds = thresholds;
  r.budget_label = budget.label;
  r.budget_bytes = budget_bytes;
  const auto start = Clock::now();
  HOBBIT_ASSIGN_OR_RETURN(Loaded m, Load(experts));
  r.load_seconds = Since(start);
  r.high_slots = m.loader->cache().num_slots(runtime::Precision::kHigh);
  r.low_slots = m.loader->cache().num_slots(runtime::Precision::kLow);
  HOBBIT_RETURN_IF_ERROR(RunStream(m, /*reference=*/false, &r));
  HOBBIT_RETURN_IF_ERROR(RunPhases(m, &r));
  return r;
}

absl::Status BenchRunner::RunPhases(Loaded& m, ModeResult* r) {
  if (options_.batch > 0) {
    r->batch.emplace();
    HOBBIT_RETURN_IF_ERROR(RunBatch(m, &*r->batch));
    SetFloor(resident_ ? &*resident_->batch : nullptr, &*r->batch);
  }
  for (size_t i = 0; i < options_.prefill.size(); ++i) {
    PhaseFigures f;
    HOBBIT_RETURN_IF_ERROR(RunPrefill(m, options_.prefill[i], &f));
    SetFloor(resident_ ? &resident_->prefill[i] : nullptr, &f);
    r->prefill.push_back(f);
  }
  SetFloor(resident_ ? &resident_->decode : nullptr, &r->decode);
  r->recordings = m.model->recording_stats();
  return absl::OkStatus();
}

void BenchRunner::SetFloor(const PhaseFigures* resident, PhaseFigures* f) const {
  const double compute = resident != nullptr ? resident->seconds : f->seconds;
  const double bytes = static_cast<double>(f->experts.bytes_demand + f->experts.bytes_prefetch);
  f->floor_seconds = compute + (link_bytes_per_second_ > 0.0 ? bytes / link_bytes_per_second_ : 0.0);
  f->floor_ratio = f->floor_seconds > 0.0 ? f->seconds / f->floor_seconds : 0.0;
}

// The stream, one token per step. The first --warmup steps are not timed and the loader's
// counters are reset after them; quality covers every position.
absl::Status BenchRunner::RunStream(Loaded& m, bool reference, ModeResult* r) {
  const int32_t n = options_.stream_tokens;
  runtime::SequenceRunner seq(*m.model, backend_);
  const kernels::KvCacheType kv_type = kernels::KvCacheTypeFor(options_.kv_type, backend_.name());
  HOBBIT_RETURN_IF_ERROR(seq.Init(n, /*chunk=*/64, kBlockSize, kv_type));
  if (reference) reference_.assign(static_cast<size_t>(n - 1) * n_vocab_, 0.0f);
  QualityMeter quality;
  runtime::StepOutput out;
  double seconds = 0.0;
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (i == options_.warmup && m.loader != nullptr) m.loader->ResetStats();
    const auto start = Clock::now();
    HOBBIT_RETURN_IF_ERROR(seq.Append({&stream_[i], 1}, runtime::LogitsWanted::kLast, &out));
    if (i >= options_.warmup) seconds += Since(start);
    const std::span<const float> row = Row(out, 0);
    float* ref = reference_.data() + static_cast<size_t>(i) * n_vocab_;
    if (reference) {
      std::copy(row.begin(), row.end(), ref);
      if (generate_ && i + 1 >= options_.prompt_tokens) stream_[i + 1] = ArgMax(row);
    }
    quality.Add({ref, static_cast<size_t>(n_vocab_)}, row, stream_[i + 1]);
  }
  r->quality = quality.Result();
  r->decode.name = "decode_b1";
  r->decode.steps = n - 1 - options_.warmup;
  r->decode.tokens = r->decode.steps;
  r->decode.seconds = seconds;
  if (m.loader != nullptr) {
    r->decode.experts = m.loader->total_stats();
    m.loader->EndSequence(0);
  }
  return absl::OkStatus();
}

// --batch sequences with their own seeded prompts, prefilled untimed, then kBatchWarmupSteps
// untimed decode steps and --batch-steps timed ones, of one token per sequence (each its own greedy
// choice). The warm-up steps keep a new step shape's one-off costs out of the figure: with CUDA
// graphs its first step runs directly and its second is recorded (Model::RunStep); a server
// replays a shape for many steps. (On the H200 this moved qwen3-30b-a3b's 32 timed steps after
// 4,000-token prompts by under 1 %.)
absl::Status BenchRunner::RunBatch(Loaded& m, PhaseFigures* f) {
  const int32_t b = options_.batch, p = options_.prompt_tokens, steps = options_.batch_steps;
  const int32_t per_seq = (p + kBatchWarmupSteps + steps + kBlockSize - 1) / kBlockSize;
  runtime::KvCacheShape shape = m.model->kv_shape();
  shape.type = kernels::KvCacheTypeFor(options_.kv_type, backend_.name());
  HOBBIT_ASSIGN_OR_RETURN(auto kv, runtime::KvCache::Create(backend_, shape, kBlockSize, b * per_seq));
  std::vector<runtime::StepSequence> seqs(static_cast<size_t>(b));
  std::vector<int32_t> next(static_cast<size_t>(b));
  runtime::StepOutput out;
  for (int32_t s = 0; s < b; ++s) {
    runtime::StepSequence& q = seqs[s];
    for (int32_t k = 0; k < per_seq; ++k) q.block_table.push_back(s * per_seq + k);
    q.seq_id = 1 + s;
    runtime::StepPlan plan;
    plan.tokens = SeededTokens(p, n_vocab_, options_.seed + kBatchSeed + s);
    plan.seqs = {q};
    plan.seqs[0].n_tokens = p;
    HOBBIT_RETURN_IF_ERROR(m.model->Forward(plan, *kv, &out));
    next[s] = ArgMax(Row(out, 0));
  }
  Clock::time_point start;
  for (int32_t step = 0; step < kBatchWarmupSteps + steps; ++step) {
    if (step == kBatchWarmupSteps) {
      if (m.loader != nullptr) m.loader->ResetStats();
      start = Clock::now();
    }
    runtime::StepPlan plan;
    plan.tokens = next;
    plan.seqs = seqs;
    for (int32_t s = 0; s < b; ++s) {
      plan.seqs[s].first_token = s;
      plan.seqs[s].n_tokens = 1;
      plan.seqs[s].n_past = p + step;
    }
    HOBBIT_RETURN_IF_ERROR(m.model->Forward(plan, *kv, &out));
    for (int32_t s = 0; s < b; ++s) next[s] = ArgMax(Row(out, s));
  }
  f->seconds = Since(start);
  f->name = absl::StrCat("decode_b", b);
  f->batch = b;
  f->steps = steps;
  f->tokens = int64_t{b} * steps;
  if (m.loader != nullptr) {
    f->experts = m.loader->total_stats();
    for (int32_t s = 0; s < b; ++s) m.loader->EndSequence(1 + s);
  }
  return absl::OkStatus();
}

// One step of n prompt tokens (the whole prompt as one chunk), after an untimed run of the same
// length on other tokens (scratch memory is sized by the first), --prefill-runs times on tokens
// of their own; the phase's seconds are the runs' median, its expert counters the last run's.
absl::Status BenchRunner::RunPrefill(Loaded& m, int32_t n, PhaseFigures* f) {
  runtime::StepOutput out;
  f->run_seconds.clear();
  for (int32_t run = -1; run < options_.prefill_runs; ++run) {
    runtime::SequenceRunner seq(*m.model, backend_);
    const kernels::KvCacheType kv_type = kernels::KvCacheTypeFor(options_.kv_type, backend_.name());
    HOBBIT_RETURN_IF_ERROR(seq.Init(n, /*chunk=*/n, kBlockSize, kv_type));
    // Run 0 keeps the tokens a single timed run always had.
    const uint64_t seed = run < 0 ? kPrefillWarmSeed : kPrefillSeed + static_cast<uint64_t>(run) * kPrefillRunSeedStep;
    const std::vector<int32_t> tokens = SeededTokens(n, n_vocab_, options_.seed + seed + n);
    if (m.loader != nullptr) m.loader->ResetStats();
    const auto start = Clock::now();
    HOBBIT_RETURN_IF_ERROR(seq.Append(tokens, runtime::LogitsWanted::kLast, &out));
    const double seconds = Since(start);
    if (run >= 0) f->run_seconds.push_back(seconds);
    if (m.loader != nullptr) {
      f->experts = m.loader->total_stats();
      m.loader->EndSequence(0);
    }
  }
  std::vector<double> sorted = f->run_seconds;
  std::sort(sorted.begin(), sorted.end());
  const size_t mid = sorted.size() / 2;
  f->seconds = sorted.size() % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
  f->name = absl::StrCat("prefill_", n);
  f->steps = 1;
  f->tokens = n;
  return absl::OkStatus();
}

}  // namespace hobbit::tools
