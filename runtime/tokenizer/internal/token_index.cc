#include "runtime/tokenizer/internal/token_index.h"

#include "absl/strings/string_view.h"

namespace hobbit::runtime::internal {

TokenIndex::TokenIndex(const std::vector<std::string>& tokens) {
  ids_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) ids_.try_emplace(tokens[i], static_cast<int32_t>(i));
}

int32_t TokenIndex::Find(std::string_view text) const {
  // Debian's Abseil has its own string_view type, which the heterogeneous lookup takes.
  const auto it = ids_.find(absl::string_view(text.data(), text.size()));
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace hobbit::runtime::internal
