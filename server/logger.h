// Logger: hobbitd's log lines on stderr (journald adds the time stamp; the line carries its own
// UTC time so plain stderr logs read the same). One fprintf per line, so lines from concurrent
// threads never interleave.
//
//   Logger::SetLevel(LogLevel::kInfo);
//   Logger::Info(absl::StrCat("listening on ", address));
#pragma once

#include "absl/strings/string_view.h"

#include "server/log_level.h"

namespace hobbit::server {

// Thread-safe; the level is process-wide.
class Logger {
 public:
  static void SetLevel(LogLevel level);
  static bool Enabled(LogLevel level);
  static void Log(LogLevel level, absl::string_view message);

  static void Debug(absl::string_view message) { Log(LogLevel::kDebug, message); }
  static void Info(absl::string_view message) { Log(LogLevel::kInfo, message); }
  static void Warning(absl::string_view message) { Log(LogLevel::kWarning, message); }
  static void Error(absl::string_view message) { Log(LogLevel::kError, message); }
};

}  // namespace hobbit::server
