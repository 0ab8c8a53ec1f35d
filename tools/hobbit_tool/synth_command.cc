// hobbit-tool synth: write a random-weight model at a real shape.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "tools/hobbit_tool/commands.h"
#include "tools/hobbit_tool/flag_parser.h"
#include "tools/hobbit_tool/synth_model.h"

namespace hobbit::tools {
namespace {

absl::Status Synthesize(const FlagParser& flags) {
  SynthOptions options;
  options.preset = flags.GetString("preset");
  HOBBIT_ASSIGN_OR_RETURN(SynthPreset preset, FindSynthPreset(options.preset));
  HOBBIT_ASSIGN_OR_RETURN(int64_t layers, flags.GetInt("layers", 0, 4096));
  HOBBIT_ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0, INT64_MAX));
  HOBBIT_ASSIGN_OR_RETURN(options.type, ParseWeightType(flags.GetString("type")));
  options.layers = static_cast<int32_t>(layers);
  options.seed = static_cast<uint64_t>(seed);
  HOBBIT_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0, 1024));
  options.threads = static_cast<int32_t>(threads);
  if (!preset.note.empty()) std::fprintf(stderr, "synth: %s: %s\n", preset.name.c_str(), preset.note.c_str());
  const std::string out = flags.GetString("out");
  HOBBIT_RETURN_IF_ERROR(WriteSynthModel(options, out, [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  }));
  std::fprintf(stderr, "synth: wrote %s\n", out.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunSynth(const std::vector<std::string>& args) {
  std::string presets;
  for (const SynthPreset& p : SynthPresets()) absl::StrAppend(&presets, presets.empty() ? "" : ", ", p.name);
  FlagParser flags("synth");
  flags.Add("preset", absl::StrCat("model shape: ", presets), true);
  flags.Add("out", "output GGUF file", true);
  flags.Add("layers", "number of layers (0: the preset's)", false, false, "0");
  flags.Add("threads", "threads making the weights (0: all cores; the bytes do not depend on it)", false, false, "0");
  flags.Add("type", "matrix type: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k", false, false, "f16");
  flags.Add("seed", "random seed", false, false, "1");
  if (auto code = flags.ParseOrExit(args)) return *code;
  if (auto s = Synthesize(flags); !s.ok()) {
    std::fprintf(stderr, "hobbit-tool synth: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace hobbit::tools
