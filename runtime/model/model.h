// Model: a loaded MoE language model that runs one engine step at a time.
//
//   HOBBIT_ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
//   HOBBIT_ASSIGN_OR_RETURN(auto model, Model::Load(file, backend, {}));
//   HOBBIT_ASSIGN_OR_RETURN(auto kv, KvCache::Create(backend, model->kv_shape(), 16, 256));
//   StepOutput out;
//   HOBBIT_RETURN_IF_ERROR(model->Forward(plan, *kv, &out));
//
// The graph (embedding -> layers of attention and MoE FFN -> norm -> LM head) is written once
// against Backend. The routed experts run behind the ExpertFfn seam, which the offloading work
// replaces; by default every expert is resident.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/expert_ffn.h"
#include "runtime/model/model_config.h"
#include "runtime/model/step_plan.h"

namespace hobbit::runtime {

class GgufFile;
class StepScratch;

struct ModelLoadOptions {
  // Replaces the resident expert FFN (offloading). Null: all experts resident in the backend.
  std::unique_ptr<ExpertFfn> expert_ffn;
  // With the resident expert FFN: decode-sized batches keep the router's choice on the device and
  // run the experts with Backend::RoutedExperts (no host round trip per layer). Taken as given
  // (tests run the CPU twin this way); the engine sets it only where it pays
  // (Backend::device_routing_pays).
  bool device_routing = false;
  // Record a decode step (embedding, layers, logits) once per shape and replay it
  // (Backend::BeginRecording: CUDA graphs), where the backend records and every layer stays on the
  // device (device routing of resident experts). A shape's first step runs directly, its second
  // is recorded.
  bool record_steps = false;
};

// Not thread-safe: Forward runs on the engine thread only. Keeps `file` and `backend` alive
// references: both must outlive the model.
class Model {
 public:
  static absl::StatusOr<std::unique_ptr<Model>> Load(std::shared_ptr<const GgufFile> file, Backend& backend,
                                                     ModelLoadOptions options);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const GgufFile& file() const { return *file_; }
  KvCacheShape kv_shape() const;

  // Runs one step: writes the K/V of every planned token and fills `out` with the logits asked
  // for. InvalidArgument for a malformed plan (token id out of range, block table too short,
  // inconsistent counts), naming the sequence.
  absl::Status Forward(const StepPlan& plan, KvCache& kv, StepOutput* out);

  // Steps that were recorded and replayed (ModelLoadOptions::record_steps).
  struct RecordingStats {
    int64_t recorded = 0;  // step shapes recorded (each in RecordingParts() - 1 backend recordings)
    int64_t replayed = 0;  // steps run by replaying one
    int64_t failed = 0;    // recordings that failed (those shapes then run directly)
  };
  const RecordingStats& recording_stats() const { return recording_stats_; }
  // Whether one-token decode steps run every MoE layer routed on the device (device routing took
  // effect), and so whether they can be recorded when record_steps is on.
  bool DecodeRoutesOnDevice();

 private:
  // What a recording of a step depends on besides the weights: the token and logits row counts,
  // the block tables' stride, the step buffers and backend scratch (by generation), the KV cache.
  struct RecordingKey {
    int32_t n_tokens;
    int32_t n_logit_rows;
    int32_t max_blocks;
    uint64_t scratch_generation;
    uint64_t buffers_epoch;
    uint64_t kv;  // the KV cache's block size and buffers, hashed
    bool operator==(const RecordingKey&) const = default;
  };
  struct Recording {
    RecordingKey key;
    std::vector<int64_t> ids;  // the parts' recordings (RecordingParts), replayed in order; none yet
    int32_t runs = 0;
    bool failed = false;
  };
  // Embedding, layers and the wanted rows' logits (into the scratch's logits buffer), recorded
  // or replayed where it can be.
  absl::Status RunStep(KvCache& kv, int32_t n_tokens, int32_t n_logit_rows);
  absl::Status RunStepDirect(KvCache& kv, int32_t n_tokens, int32_t n_logit_rows) {
    return RunStepPart(kv, n_tokens, n_logit_rows, 0, config_.n_layer);
  }
  // Layers [begin, end) of a step, with the embedding lookup when begin is 0 and the logits when
  // end is the last layer's end.
  absl::Status RunStepPart(KvCache& kv, int32_t n_tokens, int32_t n_logit_rows, int32_t begin, int32_t end);
  // A step is recorded in parts, each replayed with its own launch: the layer boundaries, from 0
  // to n_layer.
  std::vector<int32_t> RecordingParts() const;
  // Records RunStepPart (running nothing): the recording's id, or why it failed.
  absl::StatusOr<int64_t> RecordPart(KvCache& kv, int32_t n_tokens, int32_t n_logit_rows, int32_t begin, int32_t end);
  void Drop(const Recording& r);
  Model(std::shared_ptr<const GgufFile> file, Backend& backend, ModelConfig config);
  absl::Status ValidatePlan(const StepPlan& plan, const KvCache& kv) const;
  absl::Status AttentionBlock(int32_t layer, KvCache& kv, int32_t n_tokens);
  absl::Status MoeBlock(int32_t layer, int32_t n_tokens);
  absl::Status Logits(int32_t n_tokens, int32_t n_logit_rows);

  std::shared_ptr<const GgufFile> file_;
  Backend& backend_;
  ModelConfig config_;
  std::unique_ptr<ModelWeights> weights_;
  std::vector<LayerExperts> layer_experts_;
  std::unique_ptr<ExpertFfn> expert_ffn_;
  std::unique_ptr<StepScratch> scratch_;
  bool record_steps_ = false;
  std::vector<Recording> recordings_;  // few: one per decode batch size and context doubling
  RecordingStats recording_stats_;
};

}  // namespace hobbit::runtime
