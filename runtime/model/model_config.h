// ModelConfig: the hyperparameters of a supported MoE architecture, read from GGUF metadata and
// checked against the tensor shapes.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"

namespace hobbit::runtime {

class GgufFile;

enum class QkNorm {
  kNone,
  kPerHead,    // RMSNorm over each head's head_dim (qwen3moe)
  kFullWidth,  // RMSNorm over the whole projection (olmoe)
};

struct ModelConfig {
  std::string architecture;  // "llama" (Mixtral), "qwen2moe", "qwen3moe", "olmoe"
  std::string name;          // general.name, if present
  int32_t n_vocab = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_ctx_train = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim_k = 0;
  int32_t head_dim_v = 0;
  int32_t n_rot = 0;
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  int32_t n_ff_exp = 0;    // one expert's intermediate size
  int32_t n_ff_shexp = 0;  // shared expert's intermediate size (0: none)
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  RopeStyle rope_style = RopeStyle::kAdjacentPairs;
  QkNorm qk_norm = QkNorm::kNone;
  bool norm_topk = true;            // renormalize the top-k router weights
  bool shared_expert_gated = false; // qwen2moe: sigmoid(gate . x) scales the shared expert
};

// Reads and validates the architecture's keys. Errors name the missing or bad key.
absl::StatusOr<ModelConfig> ReadModelConfig(const GgufFile& file);

}  // namespace hobbit::runtime
