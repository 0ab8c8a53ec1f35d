// The server's version, as the build stamped it (the CMake project version).
#pragma once

#include "absl/strings/string_view.h"

namespace hobbit::server {

absl::string_view ServerVersion();

}  // namespace hobbit::server
