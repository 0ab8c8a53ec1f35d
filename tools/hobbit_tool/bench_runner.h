// BenchRunner: runs one model in each expert mode in turn on the same token stream, and times
// decode at batch 1 (the teacher-forced stream, one token per step), batched decode, and
// prefill, keeping the expert loader's counters and the quality against resident.
//
//   BenchRunner runner(options, file, backend, link_bytes_per_second, stream, generate);
//   HOBBIT_ASSIGN_OR_RETURN(ModeResult resident, runner.RunResident());   // first: the reference
//   HOBBIT_ASSIGN_OR_RETURN(ModeResult r, runner.RunOffloaded(ExpertMode::kHobbit, budget, bytes, {0.6f, 0.9f}));
//
// Each run loads its own Model (the mapped file is shared) and drops it before the next, so only
// one mode's device memory is held at a time. The first offloaded run that builds low copies
// keeps its ExpertStore, and later runs reuse it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/experts/expert_store.h"
#include "runtime/experts/offloaded_expert_ffn.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"
#include "tools/hobbit_tool/bench_options.h"
#include "tools/hobbit_tool/bench_results.h"

namespace hobbit::tools {

// Seeded token ids in [0, n_vocab): prompts for synthetic models and the timing phases.
std::vector<int32_t> SeededTokens(int32_t n, int32_t n_vocab, uint64_t seed);

// Not thread-safe. `file` and `backend` must outlive the runner.
class BenchRunner {
 public:
  // `stream`: the stream's first tokens; with `generate`, resident's greedy continuation fills
  // it up to options.stream_tokens, otherwise it must already hold them.
  BenchRunner(const BenchOptions& options, std::shared_ptr<const runtime::GgufFile> file, runtime::Backend& backend,
              double link_bytes_per_second, std::vector<int32_t> stream, bool generate);

  // Runs resident; must come first (it makes the reference logits and the stream).
  absl::StatusOr<ModeResult> RunResident();
  // `thresholds`: the precision rule's for this run (hobbit mode).
  absl::StatusOr<ModeResult> RunOffloaded(runtime::ExpertMode mode, const BenchBudget& budget, int64_t budget_bytes,
                                          const runtime::PrecisionThresholds& thresholds);

  const std::vector<int32_t>& stream() const { return stream_; }
  // The model's configuration, as loaded (valid after RunResident).
  const runtime::ModelConfig& config() const { return config_; }
  // The shared host copies (null until an offloaded run made them).
  std::shared_ptr<const runtime::ExpertStore> store() const { return store_; }

 private:
  struct Loaded {
    std::unique_ptr<runtime::Model> model;
    runtime::OffloadedExpertFfn* loader = nullptr;  // owned by model; null for resident
  };

  absl::StatusOr<Loaded> Load(const runtime::ExpertOptions& experts);
  absl::Status CheckContext(const runtime::ModelConfig& config) const;
  absl::Status RunPhases(Loaded& m, ModeResult* r);
  absl::Status RunStream(Loaded& m, bool reference, ModeResult* r);
  absl::Status RunBatch(Loaded& m, PhaseFigures* f);
  absl::Status RunPrefill(Loaded& m, int32_t n, PhaseFigures* f);
  void SetFloor(const PhaseFigures* resident, PhaseFigures* f) const;

  const BenchOptions& options_;
  std::shared_ptr<const runtime::GgufFile> file_;
  runtime::Backend& backend_;
  double link_bytes_per_second_;
  std::vector<int32_t> stream_;
  bool generate_;
  runtime::ModelConfig config_;
  int32_t n_vocab_ = 0;
  std::vector<float> reference_;  // resident's logits after each stream position but the last
  std::optional<ModeResult> resident_;
  std::shared_ptr<const runtime::ExpertStore> store_;
};

}  // namespace hobbit::tools
