#include "runtime/engine/model_step_executor.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "kernels/base/status_macros.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/engine/resolve_options.h"

namespace hobbit::runtime {
namespace {

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const EngineOptions& options) {
  if (options.backend == "cpu") {
    if (options.cpu_threads < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("cpu_threads: %d is out of range; it must be >= 0 (0 = all cores)", options.cpu_threads));
    }
    CpuBackendOptions cpu;
    cpu.threads = options.cpu_threads;
    return std::make_unique<CpuBackend>(cpu);
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("backend: \"%s\" is not available in this build (available: \"cpu\")", options.backend));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelStepExecutor>> ModelStepExecutor::Create(
    std::shared_ptr<const GgufFile> file, const EngineOptions& options,
    const std::function<void(std::string_view)>& progress) {
  auto say = [&](std::string_view line) {
    if (progress) progress(line);
  };
  std::unique_ptr<ModelStepExecutor> ex(new ModelStepExecutor());
  HOBBIT_ASSIGN_OR_RETURN(ex->backend_, MakeBackend(options));
  say("loading model weights");
  HOBBIT_ASSIGN_OR_RETURN(ex->model_, Model::Load(std::move(file), *ex->backend_, ModelLoadOptions{}));
  HOBBIT_ASSIGN_OR_RETURN(ex->scheduler_config_, ResolveSchedulerConfig(options, ex->model_->config().n_ctx_train));
  const KvCacheShape shape = ex->model_->kv_shape();
  HOBBIT_ASSIGN_OR_RETURN(int32_t num_blocks,
                          KvBlocksForBudget(options, ex->scheduler_config_, shape.BytesPerToken()));
  say(absl::StrFormat("allocating KV cache: %d blocks of %d tokens", num_blocks, options.kv.block_size));
  HOBBIT_ASSIGN_OR_RETURN(ex->kv_, KvCache::Create(*ex->backend_, shape, options.kv.block_size, num_blocks));
  say("warming up");
  HOBBIT_RETURN_IF_ERROR(ex->WarmUp());
  return ex;
}

absl::Status ModelStepExecutor::Execute(const StepPlan& plan, StepOutput* out) {
  return model_->Forward(plan, *kv_, out);
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
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
