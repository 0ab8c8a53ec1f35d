#include "runtime/sampling/stop_string_matcher.h"

#include <algorithm>
#include <utility>

namespace hobbit::runtime {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  stops_.erase(std::remove(stops_.begin(), stops_.end(), std::string()), stops_.end());
}

StopStringMatcher::Result StopStringMatcher::Push(std::string_view text_delta) {
  if (stopped_) return {"", true};
  pending_.append(text_delta);

  // The held-back text contains no whole stop string, so the earliest match over all stop
  // strings in pending_ is the first place the stream stops.
  size_t first_match = std::string::npos;
  for (const std::string& stop : stops_) {
    first_match = std::min(first_match, pending_.find(stop));
  }
  if (first_match != std::string::npos) {
    stopped_ = true;
    Result result{pending_.substr(0, first_match), true};
    pending_.clear();
    return result;
  }

  const size_t emit_length = pending_.size() - HeldBackLength();
  Result result{pending_.substr(0, emit_length), false};
  pending_.erase(0, emit_length);
  return result;
}

std::string StopStringMatcher::Flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

size_t StopStringMatcher::HeldBackLength() const {
  const std::string_view text(pending_);
  size_t longest = 0;
  for (const std::string& stop : stops_) {
    // Only suffixes longer than the best so far can improve it.
    const size_t max_length = std::min(stop.size() - 1, text.size());
    for (size_t length = max_length; length > longest; --length) {
      if (text.substr(text.size() - length) == std::string_view(stop).substr(0, length)) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

}  // namespace hobbit::runtime
