// EngineParts: the already-built pieces an Engine runs on. Engine::Create builds them from a
// GGUF file; tests and tools pass their own (e.g. a deterministic StepExecutor).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/engine/step_executor.h"
#include "runtime/model/model_config.h"
#include "runtime/tokenizer/tokenizer.h"

namespace hobbit::runtime {

struct EngineParts {
  std::unique_ptr<StepExecutor> executor;  // its KV cache has num_kv_blocks blocks
  std::unique_ptr<Tokenizer> tokenizer;
  ModelConfig model_config;                // n_vocab and n_ctx_train are used
  int32_t num_kv_blocks = 0;               // of EngineOptions::kv.block_size tokens each
  std::string chat_template;
};

}  // namespace hobbit::runtime
