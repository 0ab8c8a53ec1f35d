#include "runtime/experts/copy_link.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/base/status_macros.h"

namespace hobbit::runtime {

absl::StatusOr<CopyTicket> CopyLink::Copy(void* dst, const void* src, size_t bytes) {
  CopyTicket t;
  HOBBIT_ASSIGN_OR_RETURN(t.fence, backend_.CopyToDeviceAsync(dst, src, bytes));
  if (bandwidth_ > 0.0) {
    busy_until_ = std::max(busy_until_, absl::Now()) + absl::Seconds(static_cast<double>(bytes) / bandwidth_);
    t.paced_until = busy_until_;
  }
  return t;
}

absl::StatusOr<bool> CopyLink::Done(const CopyTicket& t) {
  if (t.paced_until > absl::Now()) return false;
  if (t.fence == 0) return true;
  return backend_.CopyDone(t.fence);
}

absl::StatusOr<double> CopyLink::Wait(const CopyTicket& t) {
  const absl::Time start = absl::Now();
  bool waited = false;
  if (t.paced_until > start) {
    absl::SleepFor(t.paced_until - start);
    waited = true;
  }
  if (t.fence != 0) {
    HOBBIT_ASSIGN_OR_RETURN(bool done, backend_.CopyDone(t.fence));
    if (!done) {
      HOBBIT_RETURN_IF_ERROR(backend_.WaitCopy(t.fence));
      waited = true;
    }
  }
  return waited ? absl::ToDoubleSeconds(absl::Now() - start) : 0.0;
}

absl::StatusOr<double> MeasureCopyBandwidth(Backend& backend, size_t bytes, int repeats) {
  if (bytes == 0 || repeats < 1) {
    return absl::InvalidArgumentError(absl::StrCat("copy bandwidth: ", bytes, " bytes x ", repeats, " repeats"));
  }
  HOBBIT_ASSIGN_OR_RETURN(auto host, backend.AllocateHost(bytes, "copy bandwidth probe (host)"));
  HOBBIT_ASSIGN_OR_RETURN(auto device, backend.Allocate(bytes, "copy bandwidth probe (device)"));
  std::memset(host->data(), 1, bytes);  // touch every page: first-touch faults are not the link
  HOBBIT_RETURN_IF_ERROR(backend.Synchronize());
  double best = 0.0;
  for (int i = 0; i <= repeats; ++i) {
    const absl::Time start = absl::Now();
    HOBBIT_ASSIGN_OR_RETURN(CopyFence f, backend.CopyToDeviceAsync(device->data(), host->data(), bytes));
    HOBBIT_RETURN_IF_ERROR(backend.WaitCopy(f));
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (i > 0 && seconds > 0.0) best = std::max(best, static_cast<double>(bytes) / seconds);
  }
  return best;
}

}  // namespace hobbit::runtime
