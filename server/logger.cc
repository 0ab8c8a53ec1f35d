#include "server/logger.h"

#include <atomic>
#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hobbit::server {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

char LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return 'D';
    case LogLevel::kInfo: return 'I';
    case LogLevel::kWarning: return 'W';
    case LogLevel::kError: return 'E';
  }
  return '?';
}

}  // namespace

void Logger::SetLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool Logger::Enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Logger::Log(LogLevel level, absl::string_view message) {
  if (!Enabled(level)) return;
  std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::fprintf(stderr, "%s %c hobbitd: %.*s\n", time.c_str(), LevelLetter(level),
               static_cast<int>(message.size()), message.data());
}

}  // namespace hobbit::server
