#include "server/auth_token_set.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hobbit::server {

AuthTokenSet::Digest AuthTokenSet::Hash(absl::string_view text) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

absl::StatusOr<AuthTokenSet> AuthTokenSet::Parse(absl::string_view text, absl::string_view source) {
  AuthTokenSet set;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::string_view token = absl::StripAsciiWhitespace(line);
    if (token.empty() || token[0] == '#') continue;
    for (char c : token) {
      if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
          !absl::ascii_isprint(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "auth.tokens_file: line ", line_number, " of '", source,
            "' has whitespace or a control character inside the token (one token per line)"));
      }
    }
    set.digests_.push_back(Hash(token));
  }
  if (set.digests_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("auth.tokens_file: '", source, "' holds no token (one token per line)"));
  }
  return set;
}

absl::StatusOr<AuthTokenSet> AuthTokenSet::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("auth.tokens_file: cannot read '", path, "'"));
  }
  return Parse(text.str(), path);
}

bool AuthTokenSet::Contains(absl::string_view token) const {
  const Digest candidate = Hash(token);
  // No early exit: the time taken does not depend on which token (if any) matched.
  int matches = 0;
  for (const Digest& digest : digests_) {
    matches |= CRYPTO_memcmp(digest.data(), candidate.data(), digest.size()) == 0 ? 1 : 0;
  }
  return matches != 0;
}

bool AuthTokenSet::AcceptsAuthorization(absl::string_view header_value) const {
  constexpr absl::string_view kScheme = "bearer ";
  if (!absl::StartsWithIgnoreCase(header_value, kScheme)) return false;
  absl::string_view token = absl::StripAsciiWhitespace(header_value.substr(kScheme.size()));
  return !token.empty() && Contains(token);
}

}  // namespace hobbit::server
