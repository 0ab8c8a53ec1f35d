// hobbit-tool: offline programs around hobbit's runtime (inspect, tokenize, score, generate,
// synthesize models, benchmark the expert modes).
#include <cstdio>
#include <string>
#include <vector>

#include "tools/hobbit_tool/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: hobbit-tool COMMAND [flags]   (hobbit-tool COMMAND --help for its flags)\n"
    "commands:\n"
    "  info      architecture, sizes, tensor types and expert bytes of a GGUF model\n"
    "  tokenize  token ids of each JSON string line of a file\n"
    "  logits    raw float32 logits after each position of a token list\n"
    "  generate  generate text from a prompt on the CPU\n"
    "  synth     write a random-weight model at a real shape\n"
    "  bench     every expert mode on one model: speed, bytes moved, cache figures, quality\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "info") return hobbit::tools::RunInfo(args);
  if (command == "tokenize") return hobbit::tools::RunTokenize(args);
  if (command == "logits") return hobbit::tools::RunLogits(args);
  if (command == "generate") return hobbit::tools::RunGenerate(args);
  if (command == "synth") return hobbit::tools::RunSynth(args);
  if (command == "bench") return hobbit::tools::RunBench(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "hobbit-tool: unknown command '%s'\n%s", command.c_str(), kUsage);
  return 2;
}
