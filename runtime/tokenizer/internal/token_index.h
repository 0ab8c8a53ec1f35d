// TokenIndex: token text -> id lookup shared by the tokenizer and its encoders.
//
//   TokenIndex index(vocab.tokens);
//   int32_t id = index.Find("<|im_end|>");   // -1 if no token has that text
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace hobbit::runtime::internal {

// Immutable after construction; Find is thread-safe.
class TokenIndex {
 public:
  // When several tokens share a text, the lowest id wins.
  explicit TokenIndex(const std::vector<std::string>& tokens);

  int32_t Find(std::string_view text) const;

 private:
  absl::flat_hash_map<std::string, int32_t> ids_;
};

}  // namespace hobbit::runtime::internal
