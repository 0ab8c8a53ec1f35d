// Decoding of one JSON string literal (the lines of `hobbit-tool tokenize --jsonl`).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hobbit::tools {

// Parses `"..."` (surrounding whitespace allowed) with all JSON escapes, \u surrogate pairs
// included, into UTF-8. Errors say what is wrong and where.
absl::StatusOr<std::string> ParseJsonString(std::string_view text);

}  // namespace hobbit::tools
