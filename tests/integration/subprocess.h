// Subprocess: runs a program of the build (hobbitd, hobbit) for the integration tests, with its
// stdout and stderr captured by a reader thread so the child never blocks on a full pipe.
#pragma once

#include <sys/types.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hobbit::integration {

// Used from the test thread; the output accessors are thread-safe.
class Subprocess {
 public:
  // Starts `argv[0]` with `argv`; stdin is /dev/null unless `stdin_text` is given.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv,
                                                           const std::string* stdin_text = nullptr);
  // Kills the child (SIGKILL) if it still runs and reaps it.
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  void Signal(int signal);
  // The exit code (128 + n when killed by signal n), or DeadlineExceeded.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // Waits until the combined output contains `text`; false at the timeout or at EOF without it.
  bool WaitForOutput(const std::string& text, absl::Duration timeout);

  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  Subprocess() = default;
  void ReadLoop(int out_fd, int err_fd);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::thread reader_;
  mutable absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  std::string stderr_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
};

// The full path of an executable `name` found on PATH, or "" (posix_spawn does not search PATH).
std::string FindProgram(const std::string& name);

// The whole file, or "" if it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace hobbit::integration
