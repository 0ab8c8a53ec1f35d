#include "tools/hobbit_tool/synth_model.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "kernels/base/half.h"
#include "kernels/base/status_macros.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/quant/quant_types.h"
#include "kernels/quant/quantize.h"
#include "runtime/gguf/gguf_writer.h"
#include "tools/hobbit_tool/synth_vocab.h"

namespace hobbit::tools {
namespace {

using kernels::GgmlType;
using runtime::GgufValue;

// xorshift64*: fast, portable, good enough for weights.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  float Uniform() {  // [-1, 1)
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    const uint64_t r = s_ * 0x2545F4914F6CDD1Dull;
    return static_cast<float>(r >> 40) / static_cast<float>(1 << 23) - 1.0f;
  }

 private:
  uint64_t s_;
};

uint64_t HashName(std::string_view name, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// A tensor the writer asks for when it reaches it: rows of uniform noise of a given scale
// (and offset, for norm weights), quantized to `type` row by row.
struct SynthTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;
  float scale;
  float offset;
};

uint64_t SplitMix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Rows are made in groups of kRowsPerStream, each from its own random stream, so the groups fill
// in parallel and the bytes do not depend on the number of threads.
constexpr int64_t kRowsPerStream = 64;

absl::Status FillTensor(const SynthTensor& t, uint64_t seed, uint8_t* dst, kernels::ThreadPool& pool) {
  const int64_t cols = t.ne[0];
  int64_t rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
  const int64_t row_bytes = *kernels::GgmlRowBytes(static_cast<uint32_t>(t.type), cols);
  const uint64_t base = HashName(t.name, seed);
  const int64_t groups = (rows + kRowsPerStream - 1) / kRowsPerStream;
  std::mutex mu;
  absl::Status status;
  pool.ParallelFor(groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row(cols);
    for (int64_t g = begin; g < end; ++g) {
      Rng rng(SplitMix(base + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(g + 1)));
      for (int64_t r = g * kRowsPerStream; r < std::min(rows, (g + 1) * kRowsPerStream); ++r) {
        for (float& v : row) v = t.offset + t.scale * rng.Uniform();
        absl::Status s = kernels::QuantizeRow(t.type, row.data(), dst + r * row_bytes, cols);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          status.Update(s);
          return;
        }
      }
    }
  });
  return status;
}

// K-quants need rows of 256; like llama-quantize, narrower rows fall back to Q8_0.
GgmlType TypeForRow(GgmlType wanted, int64_t cols) {
  const auto traits = kernels::GetGgmlTypeTraits(static_cast<uint32_t>(wanted));
  return cols % traits->block_size == 0 ? wanted : GgmlType::kQ8_0;
}

std::vector<SynthTensor> LayerTensors(const SynthPreset& p, int32_t l, GgmlType type) {
  const std::string b = absl::StrCat("blk.", l, ".");
  const int64_t e = p.n_embd, q = int64_t{p.n_head} * p.head_dim, kv = int64_t{p.n_head_kv} * p.head_dim;
  const float in_e = std::sqrt(3.0f / e), in_q = std::sqrt(3.0f / q), in_ff = std::sqrt(3.0f / p.n_ff_exp);
  std::vector<SynthTensor> t = {
      {b + "attn_norm.weight", GgmlType::kF32, {e}, 0.1f, 1.0f},
      {b + "attn_q.weight", TypeForRow(type, e), {e, q}, in_e, 0},
      {b + "attn_k.weight", TypeForRow(type, e), {e, kv}, in_e, 0},
      {b + "attn_v.weight", TypeForRow(type, e), {e, kv}, in_e, 0},
      {b + "attn_output.weight", TypeForRow(type, q), {q, e}, in_q, 0},
      {b + "ffn_norm.weight", GgmlType::kF32, {e}, 0.1f, 1.0f},
      {b + "ffn_gate_inp.weight", GgmlType::kF32, {e, p.n_expert}, 3.0f * in_e, 0},
      {b + "ffn_gate_exps.weight", TypeForRow(type, e), {e, p.n_ff_exp, p.n_expert}, in_e, 0},
      {b + "ffn_up_exps.weight", TypeForRow(type, e), {e, p.n_ff_exp, p.n_expert}, in_e, 0},
      {b + "ffn_down_exps.weight", TypeForRow(type, p.n_ff_exp), {p.n_ff_exp, e, p.n_expert}, in_ff, 0},
  };
  if (p.architecture == "qwen3moe") {
    t.push_back({b + "attn_q_norm.weight", GgmlType::kF32, {p.head_dim}, 0.1f, 1.0f});
    t.push_back({b + "attn_k_norm.weight", GgmlType::kF32, {p.head_dim}, 0.1f, 1.0f});
  } else if (p.architecture == "olmoe") {
    t.push_back({b + "attn_q_norm.weight", GgmlType::kF32, {q}, 0.1f, 1.0f});
    t.push_back({b + "attn_k_norm.weight", GgmlType::kF32, {kv}, 0.1f, 1.0f});
  }
  return t;
}

void SetMetadata(const SynthPreset& p, int32_t n_layer, GgmlType type, uint64_t seed, runtime::GgufWriter& w) {
  const std::string a = p.architecture;
  w.Set("general.architecture", GgufValue::String(a));
  w.Set("general.name", GgufValue::String(absl::StrCat("hobbit synth ", p.name, " (random weights, seed ", seed, ")")));
  if (kernels::GetGgmlTypeTraits(static_cast<uint32_t>(type))->quantized) {
    w.Set("general.quantization_version", GgufValue::Uint32(2));
  }
  w.Set(a + ".context_length", GgufValue::Uint32(p.n_ctx));
  w.Set(a + ".embedding_length", GgufValue::Uint32(p.n_embd));
  w.Set(a + ".block_count", GgufValue::Uint32(n_layer));
  w.Set(a + ".feed_forward_length", GgufValue::Uint32(p.n_ff_exp));
  if (a == "qwen3moe") w.Set(a + ".expert_feed_forward_length", GgufValue::Uint32(p.n_ff_exp));
  w.Set(a + ".attention.head_count", GgufValue::Uint32(p.n_head));
  w.Set(a + ".attention.head_count_kv", GgufValue::Uint32(p.n_head_kv));
  w.Set(a + ".attention.key_length", GgufValue::Uint32(p.head_dim));
  w.Set(a + ".attention.value_length", GgufValue::Uint32(p.head_dim));
  w.Set(a + ".attention.layer_norm_rms_epsilon", GgufValue::Float32(p.rms_eps));
  w.Set(a + ".rope.freq_base", GgufValue::Float32(p.rope_base));
  w.Set(a + ".rope.dimension_count", GgufValue::Uint32(p.head_dim));
  w.Set(a + ".expert_count", GgufValue::Uint32(p.n_expert));
  w.Set(a + ".expert_used_count", GgufValue::Uint32(p.n_expert_used));
  w.Set(a + ".vocab_size", GgufValue::Uint32(p.n_vocab));
  SynthVocab v = MakeSynthVocab(p.n_vocab, seed);
  w.Set("tokenizer.ggml.model", GgufValue::String("gpt2"));
  w.Set("tokenizer.ggml.pre", GgufValue::String("gpt-2"));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(v.tokens)));
  w.Set("tokenizer.ggml.token_type", GgufValue::Int32Array(v.token_types));
  w.Set("tokenizer.ggml.merges", GgufValue::StringArray(std::move(v.merges)));
  w.Set("tokenizer.ggml.bos_token_id", GgufValue::Uint32(v.bos_id));
  w.Set("tokenizer.ggml.eos_token_id", GgufValue::Uint32(v.eos_id));
  w.Set("tokenizer.ggml.add_bos_token", GgufValue::Bool(false));
  w.Set("tokenizer.chat_template",
        GgufValue::String("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
                          "}}{% endif %}"));
}

}  // namespace

const std::vector<SynthPreset>& SynthPresets() {
  static const std::vector<SynthPreset> presets = {
      {"tiny", "llama", 2048, 128, 4, 4, 2, 32, 8, 2, 256, 0, 10000.0f, 1e-5f, 4096,
       "small enough for CI and the daemon's default"},
      {"mixtral-8x7b", "llama", 32000, 4096, 32, 32, 8, 128, 8, 2, 14336, 0, 1e6f, 1e-5f, 32768,
       "byte-level BPE vocabulary instead of Mixtral's SentencePiece (same size)"},
      {"qwen3-30b-a3b", "qwen3moe", 151936, 2048, 48, 32, 4, 128, 128, 8, 768, 0, 1e6f, 1e-6f, 40960, ""},
      {"olmoe-1b-7b", "olmoe", 50304, 2048, 16, 16, 16, 128, 64, 8, 1024, 0, 10000.0f, 1e-5f, 4096, ""},
      {"phi-3.5-moe", "llama", 32064, 4096, 32, 32, 8, 128, 16, 2, 6400, 0, 10000.0f, 1e-5f, 131072,
       "Phi-3.5-MoE's shape in the Mixtral graph: hobbit does not implement phimoe's biased LayerNorm "
       "and sparsemixer router, which do not change the bytes an expert moves"},
  };
  return presets;
}

absl::StatusOr<SynthPreset> FindSynthPreset(std::string_view name) {
  std::string names;
  for (const SynthPreset& p : SynthPresets()) {
    if (p.name == name) return p;
    absl::StrAppend(&names, names.empty() ? "" : ", ", p.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown preset '", std::string(name), "' (", names, ")"));
}

absl::StatusOr<GgmlType> ParseWeightType(std::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(std::string(name));
  for (GgmlType t : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0, GgmlType::kQ4_0,
                     GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ2_K, GgmlType::kQ3_K,
                     GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    if (kernels::GgmlTypeName(t) == upper) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown weight type '", std::string(name), "' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k)"));
}

absl::Status WriteSynthModel(const SynthOptions& options, const std::string& path,
                             const std::function<void(const std::string&)>& progress) {
  HOBBIT_ASSIGN_OR_RETURN(SynthPreset p, FindSynthPreset(options.preset));
  const int32_t n_layer = options.layers > 0 ? options.layers : p.n_layer;
  if (n_layer > p.n_layer) {
    return absl::InvalidArgumentError(absl::StrCat("--layers ", n_layer, " exceeds the preset's ", p.n_layer));
  }
  runtime::GgufWriter w;
  SetMetadata(p, n_layer, options.type, options.seed, w);
  std::vector<SynthTensor> tensors = {
      {"token_embd.weight", TypeForRow(options.type, p.n_embd), {p.n_embd, p.n_vocab}, 1.7f, 0}};
  for (int32_t l = 0; l < n_layer; ++l) {
    for (SynthTensor& t : LayerTensors(p, l, options.type)) tensors.push_back(std::move(t));
  }
  tensors.push_back({"output_norm.weight", GgmlType::kF32, {p.n_embd}, 0.1f, 1.0f});
  tensors.push_back({"output.weight", TypeForRow(options.type, p.n_embd), {p.n_embd, p.n_vocab},
                     std::sqrt(3.0f / p.n_embd), 0});
  const size_t per_layer = LayerTensors(p, 0, options.type).size();
  auto pool = std::make_shared<kernels::ThreadPool>(options.threads);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const SynthTensor t = tensors[i];
    const uint64_t seed = options.seed;
    const bool layer_end = i > 0 && i + 2 < tensors.size() && i % per_layer == 0;  // a layer's last tensor
    const int64_t layer = static_cast<int64_t>(i / per_layer);
    HOBBIT_RETURN_IF_ERROR(w.AddTensorGenerated(
        t.name, static_cast<uint32_t>(t.type), t.ne, [t, seed, layer_end, layer, n_layer, pool, &progress](uint8_t* dst) {
          HOBBIT_RETURN_IF_ERROR(FillTensor(t, seed, dst, *pool));
          if (layer_end && progress) progress(absl::StrCat("synth: layer ", layer, " of ", n_layer, " made"));
          return absl::OkStatus();
        }));
  }
  return w.WriteToFile(path);
}

}  // namespace hobbit::tools
