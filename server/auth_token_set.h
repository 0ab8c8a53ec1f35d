// AuthTokenSet: the bearer tokens hobbitd accepts, loaded once from auth.tokens_file. Only
// SHA-256 digests are kept, and a candidate is compared with every digest in constant time, so
// neither memory dumps nor response timing reveal a token. Tokens are never logged.
//
//   HOBBIT_ASSIGN_OR_RETURN(AuthTokenSet tokens, AuthTokenSet::Load(options.tokens_file));
//   if (!tokens.AcceptsAuthorization(header_value)) ... UNAUTHENTICATED
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hobbit::server {

// Immutable after Load; thread-safe.
class AuthTokenSet {
 public:
  // One token per line; surrounding whitespace is trimmed, blank lines and lines starting with
  // '#' are skipped. An unreadable file, a file with no token, or a token with inner whitespace
  // is InvalidArgument naming the file (and the line), never the token.
  static absl::StatusOr<AuthTokenSet> Load(const std::string& path);
  // The same rules for text already read; `source` names it in errors.
  static absl::StatusOr<AuthTokenSet> Parse(absl::string_view text, absl::string_view source);

  // Whether `token` is one of the set.
  bool Contains(absl::string_view token) const;
  // Whether an `authorization` metadata value is "Bearer <token>" with a token of the set (the
  // scheme is matched case-insensitively, as RFC 6750 asks).
  bool AcceptsAuthorization(absl::string_view header_value) const;

  size_t size() const { return digests_.size(); }

 private:
  using Digest = std::array<uint8_t, 32>;
  static Digest Hash(absl::string_view text);

  std::vector<Digest> digests_;
};

}  // namespace hobbit::server
