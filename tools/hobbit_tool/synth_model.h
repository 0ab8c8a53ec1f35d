// Random-weight MoE models at the shapes of real ones, for tests, the daemon's out-of-box
// default and benchmarks. Seeded: the same options give the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/base/ggml_type.h"

namespace hobbit::tools {

struct SynthPreset {
  std::string name;
  std::string architecture;  // GGUF general.architecture
  int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim;
  int32_t n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
  float rope_base, rms_eps;
  int32_t n_ctx;
  std::string note;  // how the preset departs from the real model, if it does
};

const std::vector<SynthPreset>& SynthPresets();
absl::StatusOr<SynthPreset> FindSynthPreset(std::string_view name);

struct SynthOptions {
  std::string preset = "tiny";
  int32_t layers = 0;  // 0: the preset's
  kernels::GgmlType type = kernels::GgmlType::kF16;  // matrices; norms stay F32
  uint64_t seed = 1;
  int32_t threads = 0;  // 0: one per core (the bytes do not depend on it)
};

// Writes the model to `path`, streaming tensor by tensor (a full-size model never sits in
// memory). `progress` gets one line per layer.
absl::Status WriteSynthModel(const SynthOptions& options, const std::string& path,
                             const std::function<void(const std::string&)>& progress = {});

// Parses a --type value ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", ...).
absl::StatusOr<kernels::GgmlType> ParseWeightType(std::string_view name);

}  // namespace hobbit::tools
