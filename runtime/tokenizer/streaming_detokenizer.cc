#include "runtime/tokenizer/streaming_detokenizer.h"

#include "runtime/tokenizer/internal/utf8.h"

namespace hobbit::runtime {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special,
                                           bool sequence_start)
    : tokenizer_(tokenizer), skip_special_(skip_special), strip_space_(sequence_start) {}

std::string StreamingDetokenizer::Push(int32_t id) {
  tokenizer_.AppendDecodedPiece(id, skip_special_, &strip_space_, &pending_);
  std::string text;
  const size_t used = internal::AppendRepairedUtf8(pending_, /*final=*/false, &text);
  pending_.erase(0, used);
  return text;
}

std::string StreamingDetokenizer::Flush() {
  std::string text;
  internal::AppendRepairedUtf8(pending_, /*final=*/true, &text);
  pending_.clear();
  return text;
}

}  // namespace hobbit::runtime
