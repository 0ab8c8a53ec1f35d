// Names of the shards of a split GGUF model: PREFIX-00001-of-00003.gguf (llama.cpp's scheme).
#pragma once

#include <optional>
#include <string>

namespace hobbit::runtime::internal {

struct GgufSplitPath {
  std::string prefix;  // everything before "-NNNNN-of-NNNNN.gguf"
  int index = 0;       // 0-based shard index
  int count = 0;       // number of shards, >= 1
};

// PREFIX-%05d-of-%05d.gguf for 0-based `index`.
std::string GgufShardPath(const std::string& prefix, int index, int count);

// Splits a path that follows the scheme (5 digits each, 1 <= no <= count); nullopt otherwise.
std::optional<GgufSplitPath> ParseGgufShardPath(const std::string& path);

}  // namespace hobbit::runtime::internal
