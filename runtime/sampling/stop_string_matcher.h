// Finds stop strings in a stream of text deltas without ever emitting part of one.
//
//   StopStringMatcher matcher({"</answer>", "\n\nUser:"});
//   for (each detokenized delta) {
//     StopStringMatcher::Result r = matcher.Push(delta);
//     Send(r.emit);
//     if (r.stopped) break;          // finish reason STOP; the stop string is not sent
//   }
//   Send(matcher.Flush());           // generation ended for another reason
//
// Text that could be the start of a stop string is held back until the next delta shows
// whether it is one. Matching is on bytes: with UTF-8 text and UTF-8 stop strings every cut
// falls on a character boundary, because a stop string starts with a lead byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hobbit::runtime {

// One per sequence; not thread-safe.
class StopStringMatcher {
 public:
  // Empty strings are ignored (they would stop before the first token).
  explicit StopStringMatcher(std::vector<std::string> stops);

  struct Result {
    std::string emit;  // text safe to send now
    bool stopped;      // a stop string was found; emit ends right before it
  };

  // Appends a delta. Once a stop string has been found, every later Push returns
  // {"", true} and the text after the stop string is dropped.
  Result Push(std::string_view text_delta);

  // At the end of generation: the held-back text (empty after a stop), and a reset of the
  // hold-back buffer.
  std::string Flush();

  bool stopped() const { return stopped_; }

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of a stop string.
  size_t HeldBackLength() const;

  std::vector<std::string> stops_;
  std::string pending_;  // the held-back text
  bool stopped_ = false;
};

}  // namespace hobbit::runtime
