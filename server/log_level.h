// LogLevel: how much hobbitd writes to stderr (journald keeps it), and its spelling in the
// configuration ("debug", "info", "warning", "error").
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace hobbit::server {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// InvalidArgument naming the allowed spellings when `name` is none of them.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);
absl::string_view LogLevelName(LogLevel level);

}  // namespace hobbit::server
