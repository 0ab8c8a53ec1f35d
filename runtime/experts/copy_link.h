// CopyLink: the expert loader's host->device copies, on the backend's asynchronous copy queue,
// with an optional paced timeline.
//
// Copies are queued in order (Backend::CopyToDeviceAsync): on CUDA they run on their own stream
// while the layer computes, and a layer waits only for the copies its experts need. Pacing
// (bytes_per_second > 0) adds a timeline on top: each copy completes no earlier than when the
// link is free plus bytes / bandwidth. The CPU backend copies at once, so pacing is what makes
// transfer time observable there (prefetches issued early may complete before their layer runs,
// or be late); on a GPU leave it at 0 and the real link sets the time.
//
//   HOBBIT_ASSIGN_OR_RETURN(CopyTicket t, link.Copy(slot, host, bytes));
//   ... other work ...
//   double waited = link.Wait(t);  // seconds this thread blocked
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/backend/backend.h"

namespace hobbit::runtime {

// When a copy (and every copy queued before it) is complete.
struct CopyTicket {
  CopyFence fence = 0;                          // 0: nothing to wait for on the backend
  absl::Time paced_until = absl::InfinitePast();  // the paced timeline's completion
};

// Not thread-safe: used by the expert loader on the engine thread.
class CopyLink {
 public:
  CopyLink(Backend& backend, double bytes_per_second) : backend_(backend), bandwidth_(bytes_per_second) {}

  // Queues a copy of `bytes`; `src` must stay valid until it is done.
  absl::StatusOr<CopyTicket> Copy(void* dst, const void* src, size_t bytes);
  // Whether the copy is complete (never blocks).
  absl::StatusOr<bool> Done(const CopyTicket& t);
  // Blocks until the copy is complete; returns the seconds waited.
  absl::StatusOr<double> Wait(const CopyTicket& t);

 private:
  Backend& backend_;
  double bandwidth_;
  absl::Time busy_until_ = absl::InfinitePast();
};

// The backend's pinned host->device copy bandwidth in bytes/s: `repeats` copies of `bytes` from
// AllocateHost memory through CopyToDeviceAsync, the best of them (after one warm-up copy).
absl::StatusOr<double> MeasureCopyBandwidth(Backend& backend, size_t bytes, int repeats);

}  // namespace hobbit::runtime
