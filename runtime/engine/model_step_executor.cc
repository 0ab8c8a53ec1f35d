#include "runtime/engine/model_step_executor.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/base/status_macros.h"
#include "runtime/backend/backend_factory.h"
#include "runtime/engine/resolve_options.h"

namespace hobbit::runtime {
namespace {

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const EngineOptions& options) {
  if (options.cpu_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cpu_threads: %d is out of range; it must be >= 0 (0 = all cores)", options.cpu_threads));
  }
  BackendChoice choice;
  choice.name = options.backend;
  choice.cpu_threads = options.cpu_threads;
  choice.cuda_int8_activations = options.int8_activations;
  choice.cuda_prefill_precision = options.prefill_precision;
  return CreateBackend(choice);
}

SequenceExpertStats ToSequenceStats(const ExpertStats& s) {
  SequenceExpertStats o;
  o.lookups = s.lookups;
  o.hits_high = s.hits_high;
  o.hits_low = s.hits_low;
  o.low_served_high = s.low_served_high;
  o.misses_high = s.misses_high;
  o.misses_low = s.misses_low;
  o.misses_skip = s.misses_skip;
  o.misses_host = s.misses_host;
  o.bytes_demand = s.bytes_demand;
  o.bytes_prefetch = s.bytes_prefetch;
  o.prefetch_issued = s.prefetch_issued;
  o.prefetch_used = s.prefetch_used;
  o.prefetch_wasted = s.prefetch_wasted;
  o.prefetch_late = s.prefetch_late;
  o.load_wait_seconds = s.load_wait_seconds;
  return o;
}

std::optional<ExpertPolicy> ToExpertPolicy(PrecisionPolicy p) {
  switch (p) {
    case PrecisionPolicy::kQuality:
      return ExpertPolicy::kQuality;
    case PrecisionPolicy::kBalanced:
      return ExpertPolicy::kBalanced;
    case PrecisionPolicy::kSpeed:
      return ExpertPolicy::kSpeed;
    case PrecisionPolicy::kDefault:
      break;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelStepExecutor>> ModelStepExecutor::Create(
    std::shared_ptr<const GgufFile> file, const EngineOptions& options,
    const std::function<void(std::string_view)>& progress) {
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, MakeBackend(options));
  return Create(std::move(file), options, progress, std::move(backend));
}

absl::StatusOr<std::unique_ptr<ModelStepExecutor>> ModelStepExecutor::Create(
    std::shared_ptr<const GgufFile> file, const EngineOptions& options,
    const std::function<void(std::string_view)>& progress, std::unique_ptr<Backend> backend) {
  if (backend == nullptr) return absl::InvalidArgumentError("model step executor: no backend");
  auto say = [&](std::string_view line) {
    if (progress) progress(line);
  };
  std::unique_ptr<ModelStepExecutor> ex(new ModelStepExecutor());
  ex->backend_ = std::move(backend);
  // "auto" resolves here: say which backend the model runs on.
  say(absl::StrCat("loading model weights on the ", std::string(ex->backend_->name()), " backend"));
  // Options that only apply to other settings are accepted (one config serves several setups)
  // but said to be idle, so an operator does not believe them at work. (engine.device_routing is
  // on by default and simply unused by the offloading modes, whose loader decides on the host.)
  if (options.experts.cpu_path && options.experts.mode != ExpertMode::kHobbit) {
    say("warning: experts.cpu_path applies to experts.mode hobbit only; it is idle");
  }
  ModelLoadOptions load;
  load.device_routing = options.device_routing && ex->backend_->device_routing_pays();
  load.record_steps = options.cuda_graphs && ex->backend_->can_record();
  if (options.experts.mode != ExpertMode::kResident) {
    HOBBIT_RETURN_IF_ERROR(ValidateExpertOptions(options.experts));
    auto loader = std::make_unique<OffloadedExpertFfn>(options.experts, file, progress);
    ex->experts_ = loader.get();
    load.expert_ffn = std::move(loader);
  }
  HOBBIT_ASSIGN_OR_RETURN(ex->model_, Model::Load(std::move(file), *ex->backend_, std::move(load)));
  if (ex->backend_->name() == "cuda") {  // the GPU settings in effect (docs/gpu.md)
    const bool routed = ex->model_->DecodeRoutesOnDevice();
    const auto on = [](bool b) { return b ? "on" : "off"; };
    say(absl::StrCat("cuda: int8 activations ", on(options.int8_activations), ", device routing ", on(routed),
                     ", CUDA graphs ", on(routed && options.cuda_graphs && ex->backend_->can_record()),
                     ", prefill ", std::string(PrefillPrecisionName(options.prefill_precision))));
  }
  HOBBIT_ASSIGN_OR_RETURN(ex->scheduler_config_, ResolveSchedulerConfig(options, ex->model_->config().n_ctx_train));
  KvCacheShape shape = ex->model_->kv_shape();
  shape.type = kernels::KvCacheTypeFor(options.kv.type, ex->backend_->name());
  HOBBIT_ASSIGN_OR_RETURN(int32_t num_blocks,
                          KvBlocksForBudget(options, ex->scheduler_config_, shape.BytesPerToken()));
  say(absl::StrFormat("allocating KV cache: %d blocks of %d tokens (%s)", num_blocks, options.kv.block_size,
                      std::string(kernels::KvCacheTypeName(shape.type))));
  HOBBIT_ASSIGN_OR_RETURN(ex->kv_, KvCache::Create(*ex->backend_, shape, options.kv.block_size, num_blocks));
  say("warming up");
  HOBBIT_RETURN_IF_ERROR(ex->WarmUp());
  if (ex->experts_ != nullptr) {
    // The warm-up's experts stay cached; its records and statistics do not count.
    ex->experts_->EndSequence(0);
    ex->experts_->ResetStats();
  }
  return ex;
}

absl::Status ModelStepExecutor::Execute(const StepPlan& plan, StepOutput* out) {
  return model_->Forward(plan, *kv_, out);
}

void ModelStepExecutor::BeginSequence(int64_t seq_id, PrecisionPolicy policy) {
  if (experts_ != nullptr) experts_->BeginSequence(seq_id, ToExpertPolicy(policy));
}

SequenceExpertStats ModelStepExecutor::EndSequence(int64_t seq_id) {
  return experts_ != nullptr ? ToSequenceStats(experts_->EndSequence(seq_id)) : SequenceExpertStats{};
}

SequenceExpertStats ModelStepExecutor::ExpertTotals() const {
  return experts_ != nullptr ? ToSequenceStats(experts_->total_stats()) : SequenceExpertStats{};
}

StepRecordingStats ModelStepExecutor::Recordings() const {
  const Model::RecordingStats& r = model_->recording_stats();
  return {.recorded = static_cast<uint64_t>(r.recorded), .replayed = static_cast<uint64_t>(r.replayed),
          .failed = static_cast<uint64_t>(r.failed)};
}

ExpertCacheUse ModelStepExecutor::ExpertCacheOccupancy() const {
  ExpertCacheUse use;
  if (experts_ == nullptr) return use;
  const ExpertCache& cache = experts_->cache();
  use.high_used_bytes = int64_t{cache.num_resident(Precision::kHigh)} * cache.slot_bytes(Precision::kHigh);
  use.high_capacity_bytes = cache.allocated_bytes(Precision::kHigh);
  use.low_used_bytes = int64_t{cache.num_resident(Precision::kLow)} * cache.slot_bytes(Precision::kLow);
  use.low_capacity_bytes = cache.allocated_bytes(Precision::kLow);
  return use;
}

absl::Status ModelStepExecutor::WarmUp() {
  // One token into block 0, which no sequence owns yet: touches every weight and kernel once
  // so the first request does not pay for page faults and lazy set-up.
  StepPlan plan;
  plan.tokens = {0};
  StepSequence seq;
  seq.n_tokens = 1;
  seq.block_table = {0};
  plan.seqs.push_back(seq);
  StepOutput out;
  HOBBIT_RETURN_IF_ERROR(model_->Forward(plan, *kv_, &out));
  if (out.n_rows != 1 || out.n_vocab != model_->config().n_vocab) {
    return absl::InternalError(
        absl::StrFormat("warm-up step returned %d rows of %d logits, expected 1 of %d", out.n_rows, out.n_vocab,
                        model_->config().n_vocab));
  }
  return WarmUpPrefill();
}

absl::Status ModelStepExecutor::WarmUpPrefill() {
  // Resident experts on the GPU: prefill steps of 32, 64, ... tokens up to the step budget, so
  // that what the first prompts of each size would pay once is paid here: cuBLAS choosing a
  // kernel for each new product shape on the host (1-5 ms each on the H200) and the prefill
  // buffers growing. hobbitd's first request on a 2-layer mixtral shape took 134 ms to its first
  // token, the next ones 2-3 ms. (Offloading modes would copy most experts over the link.)
  if (experts_ != nullptr || backend_->name() != "cuda") return absl::OkStatus();
  const int32_t n_vocab = model_->config().n_vocab;
  const int32_t block_size = kv_->block_size();
  const int32_t most = std::min<int64_t>(scheduler_config_.step_token_budget,
                                         int64_t{kv_->num_blocks()} * block_size);
  // Every 32 tokens up to 512 (the products' token padding, kPadTokens in quant_matmul.cc), then
  // the budget itself: the warm-up's tokens grow with the square of its longest step.
  std::vector<int32_t> sizes;
  for (int32_t n = 32; n <= std::min(most, 512); n += 32) sizes.push_back(n);
  if (most > 16 && (sizes.empty() || sizes.back() != most)) sizes.push_back(most);
  for (const int32_t n : sizes) {
    StepPlan plan;
    // Token ids spread over the vocabulary, so the router spreads them over the experts as a
    // prompt does (experts see varied token counts, hence varied product shapes).
    for (int32_t i = 0; i < n; ++i) plan.tokens.push_back(static_cast<int32_t>((int64_t{i} * 7919 + 13) % n_vocab));
    StepSequence seq;
    seq.n_tokens = n;
    for (int32_t b = 0; b * block_size < n; ++b) seq.block_table.push_back(b);  // no sequence owns them yet
    plan.seqs.push_back(seq);
    StepOutput out;
    HOBBIT_RETURN_IF_ERROR(model_->Forward(plan, *kv_, &out));
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
