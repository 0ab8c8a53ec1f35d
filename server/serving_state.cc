#include "server/serving_state.h"

#include <utility>

#include "absl/status/status.h"

namespace hobbit::server {

void ServingState::Publish(std::unique_ptr<ServingContext> context) {
  absl::MutexLock lock(&mu_);
  context_ = std::move(context);
}

void ServingState::BeginDrain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

absl::StatusOr<const ServingContext*> ServingState::ForGenerate() const {
  absl::ReaderMutexLock lock(&mu_);
  if (draining_) return absl::UnavailableError("the server is shutting down");
  if (context_ == nullptr) return absl::UnavailableError("the model is still loading");
  return context_.get();
}

absl::StatusOr<const ServingContext*> ServingState::ForAdmin() const {
  absl::ReaderMutexLock lock(&mu_);
  if (context_ == nullptr) {
    return absl::UnavailableError(draining_ ? "the server is shutting down"
                                            : "the model is still loading");
  }
  return context_.get();
}

}  // namespace hobbit::server
