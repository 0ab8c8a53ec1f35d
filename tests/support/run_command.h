// RunCommand: runs a shell command line and returns its exit code and its stdout and stderr
// together (for tests of the command-line tools).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace hobbit::test_support {

struct CommandResult {
  int exit_code = -1;  // -1 when the command could not be run or did not exit normally
  std::string output;  // stdout and stderr together
};

inline CommandResult RunCommand(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace hobbit::test_support
