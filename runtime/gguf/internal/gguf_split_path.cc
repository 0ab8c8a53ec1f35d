#include "runtime/gguf/internal/gguf_split_path.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace hobbit::runtime::internal {
namespace {

// Parses exactly five ASCII digits.
std::optional<int> FiveDigits(absl::string_view s) {
  if (s.size() != 5) return std::nullopt;
  for (char ch : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
  }
  int v = 0;
  if (!absl::SimpleAtoi(s, &v)) return std::nullopt;
  return v;
}

}  // namespace

std::string GgufShardPath(const std::string& prefix, int index, int count) {
  return absl::StrFormat("%s-%05d-of-%05d.gguf", prefix, index + 1, count);
}

std::optional<GgufSplitPath> ParseGgufShardPath(const std::string& path) {
  // "-00001-of-00003.gguf" is 20 characters.
  constexpr absl::string_view kSuffix = ".gguf";
  constexpr size_t kTailLen = 20;
  if (path.size() < kTailLen || !absl::EndsWith(path, kSuffix)) return std::nullopt;
  absl::string_view tail = absl::string_view(path).substr(path.size() - kTailLen);
  if (tail[0] != '-' || tail.substr(6, 4) != "-of-") return std::nullopt;
  std::optional<int> no = FiveDigits(tail.substr(1, 5));
  std::optional<int> count = FiveDigits(tail.substr(10, 5));
  if (!no || !count || *no < 1 || *no > *count) return std::nullopt;
  return GgufSplitPath{path.substr(0, path.size() - kTailLen), *no - 1, *count};
}

}  // namespace hobbit::runtime::internal
