// EngineOptions: the engine's part of the configuration (server/ fills it from hobbitd.yaml).
// Defaults live here and nowhere else.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/base/kv_cache_type.h"
#include "runtime/backend/prefill_precision.h"
#include "runtime/experts/expert_options.h"

namespace hobbit::runtime {

struct SchedulerOptions {
  int32_t max_running = 16;        // sequences decoding at once
  int32_t max_waiting = 64;        // queued requests beyond which Submit says ResourceExhausted
  int32_t step_token_budget = 256; // prompt + decode tokens per step (chunked prefill)
  int32_t max_context = 0;         // prompt + generated tokens per sequence; 0 = the model's n_ctx_train
  int32_t max_tokens_limit = 4096; // the largest max_tokens a request may ask for
  int32_t max_stop_strings = 8;
  int32_t max_stop_string_bytes = 128;
};

struct KvOptions {
  int32_t block_size = 16;       // tokens per KV block
  int64_t cache_bytes = 256 << 20;  // KV memory for all sequences together
  // Element type of the cache (kernels/base/kv_cache_type.h): f16 holds twice the positions of
  // f32 in cache_bytes; f32 keeps keys and values unrounded; auto is f16 on CUDA, f32 on the CPU.
  kernels::KvCacheSetting type = kernels::KvCacheSetting::kAuto;
};

struct EngineOptions {
  std::string model_path;       // GGUF file (first shard of a split model)
  std::string backend = "auto";  // "cpu", "cuda", or "auto": CUDA when built with it and a GPU is present
  int32_t cpu_threads = 0;      // 0 = all cores
  // CUDA: decode products quantize activations to int8 (runtime/backend/cuda_backend.h).
  bool int8_activations = true;
  // CUDA: products of more than 8 tokens (prefill; CudaBackendOptions::prefill_precision):
  // f16 = weights decoded to FP16 and activations to FP16 scaled per token by a power of two, FP32
  // sums on the FP16 tensor cores (default); tf32 = FP32 tiles on the tensor cores in TF32;
  // f32 = exact FP32. On the H200, 512 tokens on 8 mixtral-shaped Q4_0 layers: tf32 61.7 ms, f16
  // 30.2 ms, products within 4.6e-4 of FP32 (BENCHMARKS.md).
  PrefillPrecision prefill_precision = PrefillPrecision::kF16;
  // Resident experts: decode-sized batches keep the router's choice on the device (no host round
  // trip per layer; ModelLoadOptions::device_routing). On the H200: mixtral shape 1.17x, qwen3-30b-a3b
  // 3.4x at batch 1 (BENCHMARKS.md).
  bool device_routing = true;
  // CUDA: record a decode step (embedding, layers, logits) once per shape and replay it (CUDA
  // graphs; ModelLoadOptions::record_steps): two launches a step instead of ~10 per layer. Needs
  // device routing and resident experts. On the H200 at batch 1: mixtral shape 613 -> 686 tok/s, qwen3-30b-a3b
  // 196 -> 248 tok/s (BENCHMARKS.md).
  bool cuda_graphs = true;
  SchedulerOptions scheduler;
  KvOptions kv;
  ExpertOptions experts;        // expert offloading (runtime/experts/expert_options.h)
};

}  // namespace hobbit::runtime
