#include "runtime/model/model_config.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/gguf_file.h"

namespace hobbit::runtime {
namespace {

// Reads an integer key that must be present, as int32 within [lo, hi].
absl::StatusOr<int32_t> RequiredInt(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi) {
  auto v = f.GetInt(key);
  if (!v.ok()) {
    if (absl::IsNotFound(v.status())) {
      return absl::InvalidArgumentError(absl::StrCat("model: required key '", key, "' is missing"));
    }
    return v.status();
  }
  if (*v < lo || *v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("model: key '", key, "' = ", *v, " is out of range [", lo, ", ", hi, "]"));
  }
  return static_cast<int32_t>(*v);
}

absl::StatusOr<int32_t> OptionalInt(const GgufFile& f, const std::string& key, int32_t fallback, int64_t lo,
                                    int64_t hi) {
  if (f.Find(key) == nullptr) return fallback;
  return RequiredInt(f, key, lo, hi);
}

absl::StatusOr<float> OptionalFloat(const GgufFile& f, const std::string& key, float fallback) {
  if (f.Find(key) == nullptr) return fallback;
  HOBBIT_ASSIGN_OR_RETURN(double v, f.GetFloat(key));
  return static_cast<float>(v);
}

// A per-layer key must hold one value for all layers: hobbit's graph assumes uniform layers.
absl::StatusOr<int32_t> UniformPerLayer(const GgufFile& f, const std::string& key, int32_t n_layer,
                                        std::optional<int32_t> fallback) {
  if (f.Find(key) == nullptr) {
    if (fallback) return *fallback;
    return absl::InvalidArgumentError(absl::StrCat("model: required key '", key, "' is missing"));
  }
  HOBBIT_ASSIGN_OR_RETURN(auto values, f.GetPerLayerInt(key, n_layer));
  for (int64_t v : values) {
    if (v != values[0]) {
      return absl::InvalidArgumentError(absl::StrCat("model: key '", key, "' differs between layers; hobbit needs one value"));
    }
  }
  if (values.empty() || values[0] <= 0 || values[0] > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("model: key '", key, "' must be a positive count"));
  }
  return static_cast<int32_t>(values[0]);
}

bool IsSupportedArchitecture(const std::string& arch) {
  return arch == "llama" || arch == "qwen2moe" || arch == "qwen3moe" || arch == "olmoe";
}

// Per-architecture semantics that GGUF does not spell out (formats.md §3.2-3.4).
void ApplyArchitectureRules(ModelConfig& c) {
  c.rope_style = c.architecture == "llama" ? RopeStyle::kAdjacentPairs : RopeStyle::kHalfSplit;
  c.norm_topk = c.architecture == "llama" || c.architecture == "qwen3moe";
  c.shared_expert_gated = c.architecture == "qwen2moe";
}

absl::Status ReadShapes(const GgufFile& f, const std::string& a, ModelConfig& c) {
  HOBBIT_ASSIGN_OR_RETURN(c.n_layer, RequiredInt(f, a + ".block_count", 1, 4096));
  HOBBIT_ASSIGN_OR_RETURN(c.n_embd, RequiredInt(f, a + ".embedding_length", 1, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(c.n_ctx_train, OptionalInt(f, a + ".context_length", 4096, 1, 1 << 24));
  HOBBIT_ASSIGN_OR_RETURN(c.n_head, UniformPerLayer(f, a + ".attention.head_count", c.n_layer, std::nullopt));
  HOBBIT_ASSIGN_OR_RETURN(c.n_head_kv, UniformPerLayer(f, a + ".attention.head_count_kv", c.n_layer, c.n_head));
  if (c.n_head % c.n_head_kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat("model: ", c.n_head, " attention heads are not a multiple of ",
                                                   c.n_head_kv, " KV heads"));
  }
  const int32_t default_head_dim = c.n_embd / c.n_head;
  HOBBIT_ASSIGN_OR_RETURN(c.head_dim_k, OptionalInt(f, a + ".attention.key_length", default_head_dim, 1, 4096));
  HOBBIT_ASSIGN_OR_RETURN(c.head_dim_v, OptionalInt(f, a + ".attention.value_length", default_head_dim, 1, 4096));
  HOBBIT_ASSIGN_OR_RETURN(c.n_rot, OptionalInt(f, a + ".rope.dimension_count", c.head_dim_k, 0, c.head_dim_k));
  if (c.n_rot % 2 != 0) return absl::InvalidArgumentError(absl::StrCat("model: rope dimension ", c.n_rot, " is odd"));
  HOBBIT_ASSIGN_OR_RETURN(c.n_expert, RequiredInt(f, a + ".expert_count", 1, 4096));
  HOBBIT_ASSIGN_OR_RETURN(c.n_expert_used, RequiredInt(f, a + ".expert_used_count", 1, c.n_expert));
  return absl::OkStatus();
}

absl::Status ReadFloats(const GgufFile& f, const std::string& a, ModelConfig& c) {
  HOBBIT_ASSIGN_OR_RETURN(c.rms_eps, OptionalFloat(f, a + ".attention.layer_norm_rms_epsilon", 1e-5f));
  if (!(c.rms_eps > 0.0f && c.rms_eps < 1.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("model: RMS norm epsilon ", c.rms_eps, " is out of range (0, 1)"));
  }
  HOBBIT_ASSIGN_OR_RETURN(c.rope_freq_base, OptionalFloat(f, a + ".rope.freq_base", 10000.0f));
  if (!(c.rope_freq_base > 0.0f)) return absl::InvalidArgumentError("model: rope.freq_base must be positive");
  if (f.Find(a + ".rope.scaling.type") != nullptr) {
    HOBBIT_ASSIGN_OR_RETURN(std::string type, f.GetString(a + ".rope.scaling.type"));
    if (type == "linear") {
      HOBBIT_ASSIGN_OR_RETURN(float factor, OptionalFloat(f, a + ".rope.scaling.factor", 1.0f));
      if (!(factor > 0.0f)) return absl::InvalidArgumentError("model: rope.scaling.factor must be positive");
      c.rope_freq_scale = 1.0f / factor;
    } else if (type != "none") {
      return absl::UnimplementedError(absl::StrCat("model: rope scaling '", type, "' is not supported (linear, none)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ReadModelConfig(const GgufFile& f) {
  ModelConfig c;
  auto arch = f.GetString("general.architecture");
  if (!arch.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model: key 'general.architecture' is missing or not a string (",
                                                   arch.status().message(), ")"));
  }
  c.architecture = *arch;
  if (!IsSupportedArchitecture(c.architecture)) {
    return absl::UnimplementedError(absl::StrCat("model: architecture '", c.architecture,
                                                 "' is not supported (llama, qwen2moe, qwen3moe, olmoe)"));
  }
  if (auto name = f.GetString("general.name"); name.ok()) c.name = *name;
  HOBBIT_RETURN_IF_ERROR(ReadShapes(f, c.architecture, c));
  HOBBIT_RETURN_IF_ERROR(ReadFloats(f, c.architecture, c));
  ApplyArchitectureRules(c);
  if (f.Find(c.architecture + ".expert_weights_norm") != nullptr) {
    HOBBIT_ASSIGN_OR_RETURN(c.norm_topk, f.GetBool(c.architecture + ".expert_weights_norm"));
  }
  // Vocabulary, expert and shared-expert widths come from the tensors (ModelWeights checks them
  // against these keys when present).
  return c;
}

}  // namespace hobbit::runtime
