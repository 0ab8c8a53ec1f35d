// FindInvalidUtf8: where a byte string stops being well-formed UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF). Used to name a bad request field precisely.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace hobbit::server {

// The offset of the first byte that does not belong to a well-formed sequence, or npos.
size_t FindInvalidUtf8(absl::string_view text);

}  // namespace hobbit::server
