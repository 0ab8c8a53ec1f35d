// ModelStepExecutor: the StepExecutor that runs a real Model over its paged KV cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/engine/engine_options.h"
#include "runtime/engine/step_executor.h"
#include "runtime/experts/offloaded_expert_ffn.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/scheduler/scheduler.h"

namespace hobbit::runtime {

// Owns the backend, the model and the KV cache (destroyed in that reverse order). Engine
// thread only, like the Model it wraps.
class ModelStepExecutor final : public StepExecutor {
 public:
  // Makes the backend named by options.backend, loads the model from `file` (with the expert
  // loader of options.experts unless its mode is resident), resolves the
  // scheduler limits against the model's context, sizes the KV cache from kv.cache_bytes and
  // runs one warm-up step. `progress` (may be empty) gets one-line status messages.
  static absl::StatusOr<std::unique_ptr<ModelStepExecutor>> Create(
      std::shared_ptr<const GgufFile> file, const EngineOptions& options,
      const std::function<void(std::string_view)>& progress);
  // The same on a backend the caller made (tests: a CPU backend that records like CUDA);
  // options.backend is not consulted.
  static absl::StatusOr<std::unique_ptr<ModelStepExecutor>> Create(
      std::shared_ptr<const GgufFile> file, const EngineOptions& options,
      const std::function<void(std::string_view)>& progress, std::unique_ptr<Backend> backend);

  absl::Status Execute(const StepPlan& plan, StepOutput* out) override;
  void BeginSequence(int64_t seq_id, PrecisionPolicy policy) override;
  SequenceExpertStats EndSequence(int64_t seq_id) override;
  SequenceExpertStats ExpertTotals() const override;
  ExpertCacheUse ExpertCacheOccupancy() const override;
  StepRecordingStats Recordings() const override;
  std::string backend_name() const override { return std::string(backend_->name()); }

  const ModelConfig& model_config() const { return model_->config(); }
  const SchedulerConfig& scheduler_config() const { return scheduler_config_; }
  int32_t num_kv_blocks() const { return kv_->num_blocks(); }

 private:
  ModelStepExecutor() = default;
  absl::Status WarmUp();
  absl::Status WarmUpPrefill();  // on the GPU, resident: prefill steps of every 32 tokens up to the budget

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  OffloadedExpertFfn* experts_ = nullptr;  // owned by model_; null when every expert is resident
  std::unique_ptr<KvCache> kv_;
  SchedulerConfig scheduler_config_;
};

}  // namespace hobbit::runtime
