// The subcommands of hobbit-tool. Each parses its own flags and returns a process exit code
// (0 success, 1 failure, 2 bad usage), printing errors to stderr.
#pragma once

#include <string>
#include <vector>

namespace hobbit::tools {

int RunInfo(const std::vector<std::string>& args);
int RunTokenize(const std::vector<std::string>& args);
int RunLogits(const std::vector<std::string>& args);
int RunGenerate(const std::vector<std::string>& args);
int RunSynth(const std::vector<std::string>& args);
int RunBench(const std::vector<std::string>& args);

}  // namespace hobbit::tools
