#include "server/systemd_notifier.h"

#include <systemd/sd-daemon.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace hobbit::server {
namespace {

uint64_t WatchdogInterval() {
  uint64_t usec = 0;
  // unset_environment = 0: the value stays for anything else that reads it.
  return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

}  // namespace

SystemdNotifier::SystemdNotifier() : watchdog_usec_(WatchdogInterval()) {}

void SystemdNotifier::Status(absl::string_view status) {
  std::string line = absl::StrCat("STATUS=", status);
  sd_notify(0, line.c_str());
}

void SystemdNotifier::Ready() { sd_notify(0, "READY=1\nSTATUS=serving"); }

void SystemdNotifier::Stopping() { sd_notify(0, "STOPPING=1\nSTATUS=draining"); }

void SystemdNotifier::Heartbeat() {
  if (watchdog_usec_ == 0) return;
  int64_t now = absl::ToUnixMicros(absl::Now());
  int64_t last = last_heartbeat_usec_.load(std::memory_order_relaxed);
  if (now - last < static_cast<int64_t>(watchdog_usec_ / 4)) return;
  if (!last_heartbeat_usec_.compare_exchange_strong(last, now)) return;
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace hobbit::server
