// hobbit-tool tokenize: the token ids of each line of a JSON-lines file whose lines are JSON
// strings, one line of space-separated ids per input line.
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/tokenizer_vocab.h"
#include "tools/hobbit_tool/commands.h"
#include "tools/hobbit_tool/flag_parser.h"
#include "tools/hobbit_tool/json_string.h"

namespace hobbit::tools {
namespace {

absl::Status Tokenize(const FlagParser& flags) {
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<runtime::GgufFile> file, runtime::GgufFile::Open(flags.GetString("model")));
  HOBBIT_ASSIGN_OR_RETURN(runtime::TokenizerVocab vocab, runtime::LoadTokenizerVocab(*file));
  HOBBIT_ASSIGN_OR_RETURN(auto tokenizer, runtime::Tokenizer::Create(std::move(vocab)));
  const std::string in_path = flags.GetString("jsonl");
  std::ifstream in(in_path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --jsonl '", in_path, "'"));
  const bool add_special = !flags.GetSwitch("no-special");
  const bool parse_special = flags.GetSwitch("parse-special");
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    auto text = ParseJsonString(line);
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(in_path, ":", n, ": ", text.status().message()));
    const std::vector<int32_t> ids = tokenizer->Encode(*text, add_special, parse_special);
    std::printf("%s\n", absl::StrJoin(ids, " ").c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int RunTokenize(const std::vector<std::string>& args) {
  FlagParser flags("tokenize");
  flags.Add("model", "GGUF model file (its tokenizer is used)", true);
  flags.Add("jsonl", "input: one JSON string per line", true);
  flags.Add("no-special", "do not add BOS/EOS as the model would", false, true);
  flags.Add("parse-special", "recognize special-token text (e.g. <|im_start|>) in the input", false, true);
  if (auto code = flags.ParseOrExit(args)) return *code;
  if (auto s = Tokenize(flags); !s.ok()) {
    std::fprintf(stderr, "hobbit-tool tokenize: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace hobbit::tools
