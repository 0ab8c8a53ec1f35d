#include "runtime/experts/copy_link.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "kernels/base/status_macros.h"

namespace hobbit::runtime {

absl::StatusOr<absl::Time> CopyLink::Copy(void* dst, const void* src, size_t bytes) {
  HOBBIT_RETURN_IF_ERROR(backend_.CopyToDevice(dst, src, bytes));
  const absl::Time now = absl::Now();
  if (bandwidth_ <= 0.0) return now;
  busy_until_ = std::max(busy_until_, now) + absl::Seconds(static_cast<double>(bytes) / bandwidth_);
  return busy_until_;
}

double CopyLink::WaitUntil(absl::Time t) {
  const absl::Time now = absl::Now();
  if (t <= now) return 0.0;
  absl::SleepFor(t - now);
  return absl::ToDoubleSeconds(absl::Now() - now);
}

}  // namespace hobbit::runtime
