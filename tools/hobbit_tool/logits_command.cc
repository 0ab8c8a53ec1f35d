// hobbit-tool logits: the logits after every position of a token list, raw little-endian
// float32, n_tokens x n_vocab, row-major.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "runtime/model/sequence_runner.h"
#include "tools/hobbit_tool/commands.h"
#include "tools/hobbit_tool/flag_parser.h"
#include "tools/hobbit_tool/loaded_model.h"

namespace hobbit::tools {
namespace {

absl::Status WriteLogits(const FlagParser& flags) {
  HOBBIT_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, ParseIntList(flags.GetString("tokens"), "tokens"));
  HOBBIT_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0, 1024));
  HOBBIT_ASSIGN_OR_RETURN(int64_t chunk, flags.GetInt("chunk", 1, 1 << 20));
  HOBBIT_ASSIGN_OR_RETURN(LoadedModel m, LoadModel(flags.GetString("model"), flags.GetString("backend"), static_cast<int>(threads)));
  for (int32_t t : tokens) {
    if (t < 0 || t >= m.model->config().n_vocab) {
      return absl::InvalidArgumentError(absl::StrCat("--tokens: id ", t, " is out of range [0, ", m.model->config().n_vocab, ")"));
    }
  }
  runtime::SequenceRunner runner(*m.model, *m.backend);
  HOBBIT_RETURN_IF_ERROR(runner.Init(static_cast<int32_t>(tokens.size()), static_cast<int32_t>(chunk)));
  runtime::StepOutput out;
  HOBBIT_RETURN_IF_ERROR(runner.Append(tokens, runtime::LogitsWanted::kAll, &out));
  const std::string path = flags.GetString("out");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open --out '", path, "' for writing"));
  const size_t written = std::fwrite(out.logits.data(), sizeof(float), out.logits.size(), f);
  if (std::fclose(f) != 0 || written != out.logits.size()) {
    return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  }
  std::fprintf(stderr, "wrote %d x %d float32 logits to %s\n", out.n_rows, out.n_vocab, path.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunLogits(const std::vector<std::string>& args) {
  FlagParser flags("logits");
  flags.Add("model", "GGUF model file", true);
  flags.Add("tokens", "comma-separated token ids, e.g. 1,2,3", true);
  flags.Add("out", "output file: n_tokens x n_vocab float32, little-endian, row-major", true);
  flags.Add("threads", "CPU threads (0: all cores)", false, false, "0");
  flags.Add("backend", "cpu, cuda, or auto (CUDA when a GPU is present)", false, false, "auto");
  flags.Add("chunk", "tokens per forward step", false, false, "64");
  if (auto code = flags.ParseOrExit(args)) return *code;
  if (auto s = WriteLogits(flags); !s.ok()) {
    std::fprintf(stderr, "hobbit-tool logits: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace hobbit::tools
