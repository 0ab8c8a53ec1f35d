// hobbit-tool info: what a GGUF model is — architecture, sizes, tensor types and the bytes of
// one expert in each precision hobbit can hold it in.
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"
#include "tools/hobbit_tool/commands.h"
#include "tools/hobbit_tool/flag_parser.h"

namespace hobbit::tools {
namespace {

std::string Bytes(double b) {
  if (b >= 1e9) return absl::StrFormat("%.2f GB", b / 1e9);
  if (b >= 1e6) return absl::StrFormat("%.2f MB", b / 1e6);
  if (b >= 1e3) return absl::StrFormat("%.2f kB", b / 1e3);
  return absl::StrFormat("%.0f B", b);
}

void PrintConfig(const runtime::ModelConfig& c) {
  std::printf("architecture      %s%s\n", c.architecture.c_str(), c.name.empty() ? "" : (" (" + c.name + ")").c_str());
  std::printf("layers            %d\n", c.n_layer);
  std::printf("embedding         %d\n", c.n_embd);
  std::printf("vocabulary        %d\n", c.n_vocab);
  std::printf("context (train)   %d\n", c.n_ctx_train);
  std::printf("attention heads   %d (KV %d), head dim %d/%d, rope dims %d, base %g, %s pairs\n", c.n_head, c.n_head_kv,
              c.head_dim_k, c.head_dim_v, c.n_rot, c.rope_freq_base,
              c.rope_style == runtime::RopeStyle::kAdjacentPairs ? "adjacent" : "half-split");
  std::printf("experts           %d, %d used per token, FFN %d, top-k %s\n", c.n_expert, c.n_expert_used, c.n_ff_exp,
              c.norm_topk ? "renormalized" : "not renormalized");
  if (c.n_ff_shexp > 0) {
    std::printf("shared expert     FFN %d%s\n", c.n_ff_shexp, c.shared_expert_gated ? ", sigmoid-gated" : "");
  }
}

absl::Status PrintInfo(const std::string& path) {
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<runtime::GgufFile> file, runtime::GgufFile::Open(path));
  HOBBIT_ASSIGN_OR_RETURN(runtime::ModelConfig config, runtime::ReadModelConfig(*file));
  runtime::CpuBackend backend({.threads = 1});
  HOBBIT_ASSIGN_OR_RETURN(auto weights, runtime::LoadModelWeights(*file, backend, config));
  std::printf("file              %s (GGUF v%u, %d shard%s, %s)\n", path.c_str(), file->version(), file->n_shards(),
              file->n_shards() == 1 ? "" : "s", Bytes(static_cast<double>(file->total_bytes())).c_str());
  PrintConfig(config);

  std::map<std::string, std::pair<int, uint64_t>> by_type;
  uint64_t total = 0;
  for (const auto& t : file->tensors()) {
    auto& e = by_type[kernels::GgmlTypeName(t.type)];
    ++e.first;
    e.second += t.nbytes;
    total += t.nbytes;
  }
  std::printf("tensors           %zu, %s\n", file->tensors().size(), Bytes(static_cast<double>(total)).c_str());
  for (const auto& [type, e] : by_type) {
    std::printf("  %-6s          %4d tensors, %s\n", type.c_str(), e.first, Bytes(static_cast<double>(e.second)).c_str());
  }
  // One expert's bytes: as stored (the high copy), and as the low copies hobbit makes
  // (group-wise int4, group 32, fp16 scale and zero: 5 bits per weight; int2, group 16: 4 bits).
  const auto& ex = weights->layers[0].experts;
  const double high = static_cast<double>(ex.gate[0].bytes() + ex.up[0].bytes() + ex.down[0].bytes());
  const double params = 3.0 * config.n_embd * config.n_ff_exp;
  const double n_experts = double{1} * config.n_layer * config.n_expert;
  std::printf("one expert        %.0f parameters\n", params);
  std::printf("  high (file)     %s each, %s for all %.0f\n", Bytes(high).c_str(), Bytes(high * n_experts).c_str(), n_experts);
  std::printf("  low int4 g32    %s each, %s for all\n", Bytes(params * 5 / 8).c_str(), Bytes(params * 5 / 8 * n_experts).c_str());
  std::printf("  low int2 g16    %s each, %s for all\n", Bytes(params * 4 / 8).c_str(), Bytes(params * 4 / 8 * n_experts).c_str());
  return absl::OkStatus();
}

}  // namespace

int RunInfo(const std::vector<std::string>& args) {
  FlagParser flags("info");
  flags.Add("model", "GGUF model file", true);
  if (auto code = flags.ParseOrExit(args)) return *code;
  if (auto s = PrintInfo(flags.GetString("model")); !s.ok()) {
    std::fprintf(stderr, "hobbit-tool info: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace hobbit::tools
