// The output of `hobbit-tool bench`: every figure and the configuration as JSON, and readable
// tables (speed, then cache behaviour and quality) for the terminal.
#pragma once

#include <string>
#include <vector>

#include "tools/hobbit_tool/bench_results.h"

namespace hobbit::tools {

std::string BenchJson(const BenchConfig& config, const std::vector<ModeResult>& results,
                      const std::vector<TuneResult>& tuning);
std::string BenchTables(const BenchConfig& config, const std::vector<ModeResult>& results,
                        const std::vector<TuneResult>& tuning);

}  // namespace hobbit::tools
