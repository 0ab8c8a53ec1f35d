// The model a bench runs on: a GGUF file, or a preset synthesized "in memory": written to a
// temp file in /dev/shm (or $TMPDIR, then /tmp), mapped, and unlinked at once, so nothing
// remains once the process ends (unless it dies while the file is being written).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf_file.h"
#include "tools/hobbit_tool/bench_options.h"
#include "tools/hobbit_tool/synth_model.h"

namespace hobbit::tools {

struct BenchModel {
  std::shared_ptr<const runtime::GgufFile> file;
  std::string source;  // the path, or "synth:<preset>"
  std::string synth_dir;  // where a synthesized file lived while it was written ("" for --model)
};

absl::StatusOr<BenchModel> OpenBenchModel(const BenchOptions& options);

// Bytes of every routed expert's high copy (the ffn_{gate,up,down}_exps tensors): what a
// fractional budget is a fraction of.
int64_t AllRoutedExpertBytes(const runtime::GgufFile& file);

// Bytes of weights one decode token reads at batch 1 (the HBM roofline's numerator): every tensor
// in full but the routed experts (n_expert_used of n_expert per layer) and the token embedding
// table (one row; the whole table when the output head is tied to it, as there is no
// output.weight).
int64_t DecodeWeightBytes(const runtime::GgufFile& file, int32_t n_expert, int32_t n_expert_used);

// A preset's file size at `type`, close enough to pick a folder with room.
absl::StatusOr<int64_t> EstimateSynthBytes(const SynthOptions& options);

}  // namespace hobbit::tools
