// AuthOptions: the `auth:` section of hobbitd.yaml: bearer tokens that every hobbit.v1 call must
// carry as `authorization: Bearer <token>` metadata (grpc.health.v1 stays open for probes).
// Plain data; AuthTokenSet (auth_token_set.h) loads the file.
#pragma once

#include <string>

namespace hobbit::server {

struct AuthOptions {
  // File with one token per line (blank lines and lines starting with '#' are skipped); empty
  // turns token checks off.
  std::string tokens_file;
};

}  // namespace hobbit::server
