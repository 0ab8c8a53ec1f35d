// StreamingDetokenizer: turns the tokens of one sequence, as they are generated, into text
// that is always valid UTF-8 — a character split across byte tokens is held back until it is
// complete.
//
//   StreamingDetokenizer detok(*tokenizer, /*skip_special=*/true, /*sequence_start=*/false);
//   for (int32_t id : generated) Send(detok.Push(id));
//   Send(detok.Flush());
//
// The concatenation of everything Push and Flush return equals
// tokenizer.Decode(ids, skip_special) when sequence_start is true.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/tokenizer/tokenizer.h"

namespace hobbit::runtime {

// One per sequence; not thread-safe (owned by the thread that produces the sequence's tokens).
// Borrows the tokenizer, which must outlive it.
class StreamingDetokenizer {
 public:
  // sequence_start: the first pushed token starts the sequence, so SentencePiece's prefix
  // space is dropped as Decode does; false when the tokens continue a prompt.
  StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special, bool sequence_start);

  // The text that token `id` completes: only whole UTF-8 characters; ill-formed bytes become
  // U+FFFD as soon as they cannot start or continue a character.
  std::string Push(int32_t id);

  // Whatever is held back, with an incomplete trailing character replaced by U+FFFD.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool strip_space_;
  std::string pending_;  // bytes of an incomplete character
};

}  // namespace hobbit::runtime
