// ModelWeights: every tensor the graph uses, found by its GGUF name, shape-checked against the
// configuration and made usable by the backend.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/model/model_config.h"

namespace hobbit::runtime {

class GgufFile;

// One layer's routed experts: n_expert matrices each, from stacked `ffn_*_exps` tensors or the
// older per-expert `ffn_*.E` tensors.
struct LayerExperts {
  std::vector<WeightView> gate;  // [n_ff_exp rows, n_embd cols]
  std::vector<WeightView> up;    // [n_ff_exp, n_embd]
  std::vector<WeightView> down;  // [n_embd, n_ff_exp]
};

struct LayerWeights {
  const float* attn_norm = nullptr;
  WeightView wq, wk, wv, wo;
  const float* bq = nullptr;  // q/k/v biases (qwen2moe); null when absent
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // per-head or full-width (ModelConfig::qk_norm)
  const float* k_norm = nullptr;
  const float* ffn_norm = nullptr;
  WeightView router;  // [n_expert, n_embd]
  LayerExperts experts;
  // Shared expert (qwen2moe); rows == 0 when absent.
  WeightView shexp_gate, shexp_up, shexp_down;
  WeightView shexp_router;  // [1, n_embd]: sigmoid gate of the shared expert
};

struct ModelWeights {
  WeightView token_embd;  // [n_vocab, n_embd]
  const float* output_norm = nullptr;
  WeightView output;      // [n_vocab, n_embd]; token_embd when the head is tied
  std::vector<LayerWeights> layers;
};

// Finds and checks every tensor, completes `config` (n_vocab, n_ff_exp, n_ff_shexp, qk_norm)
// from the shapes, and uploads through the backend. With upload_experts false the routed
// experts stay host views into the file (an offloading ExpertFfn copies them itself); on the
// CPU backend both are the same. Errors name the tensor and the shape expected.
absl::StatusOr<std::unique_ptr<ModelWeights>> LoadModelWeights(const GgufFile& file, Backend& backend,
                                                               ModelConfig& config, bool upload_experts = true);

}  // namespace hobbit::runtime
