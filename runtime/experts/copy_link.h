// CopyLink: host->device expert copies through Backend::CopyToDevice, with the link's timeline.
//
// Copies are issued in order on one link. Each gets a completion time: it starts when the link
// is free and takes bytes / bandwidth. On the CPU backend the bytes move at once (memcpy) and the
// timeline is what makes transfer time observable: a layer that needs a copy waits until its
// completion time (prefetches issued early may complete before their layer runs, or be late).
// With bandwidth 0 every copy completes when it is issued.
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/backend/backend.h"

namespace hobbit::runtime {

// Not thread-safe: used by the expert loader on the engine thread.
class CopyLink {
 public:
  CopyLink(Backend& backend, double bytes_per_second) : backend_(backend), bandwidth_(bytes_per_second) {}

  // Copies `bytes` and returns when the copy completes on the link's timeline.
  absl::StatusOr<absl::Time> Copy(void* dst, const void* src, size_t bytes);
  // Blocks until `t`; returns the seconds waited (0 when `t` has passed).
  double WaitUntil(absl::Time t);

 private:
  Backend& backend_;
  double bandwidth_;
  absl::Time busy_until_ = absl::InfinitePast();
};

}  // namespace hobbit::runtime
