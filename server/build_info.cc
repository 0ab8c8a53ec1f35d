#include "server/build_info.h"

namespace hobbit::server {

absl::string_view ServerVersion() { return HOBBIT_VERSION; }

}  // namespace hobbit::server
