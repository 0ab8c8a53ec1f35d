// SystemdNotifier: the sd_notify(3) protocol of a Type=notify service: STATUS= lines while
// loading, READY=1, WATCHDOG=1 heartbeats (rate-limited to a quarter of WatchdogSec), and
// STOPPING=1. Without $NOTIFY_SOCKET (not started by systemd) every call does nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include "absl/strings/string_view.h"

namespace hobbit::server {

// Thread-safe: Heartbeat is called from the engine thread, the rest from main.
class SystemdNotifier {
 public:
  SystemdNotifier();

  void Status(absl::string_view status);
  void Ready();
  void Stopping();
  // Sends WATCHDOG=1 when the watchdog is on and a quarter of its interval has passed.
  void Heartbeat();

 private:
  const uint64_t watchdog_usec_;  // 0: no watchdog
  std::atomic<int64_t> last_heartbeat_usec_{0};
};

}  // namespace hobbit::server
