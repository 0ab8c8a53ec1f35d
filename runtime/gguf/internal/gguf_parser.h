// ParseGgufShard: the bounds-checked parser of one GGUF file (one shard of a model).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/gguf/gguf_value.h"
#include "runtime/gguf/internal/mapped_file.h"

namespace hobbit::runtime::internal {

// Magic "GGUF" read as a little-endian u32.
inline constexpr uint32_t kGgufMagic = 0x46554747;
inline constexpr uint64_t kGgufDefaultAlignment = 32;
// GGML_MAX_NAME is 64 including the NUL, so names hold at most 63 bytes.
inline constexpr uint64_t kGgufMaxTensorNameBytes = 63;
inline constexpr uint64_t kGgufMaxKeyBytes = 65535;
inline constexpr int kGgufMaxDims = 4;
// Limits that bound memory on hostile input (parsed metadata takes at most ~8x its file bytes,
// for u8 arrays widened to int64). Real models are far below them: a 256k-token vocabulary
// with merges is ~10 MB of metadata, and the largest MoE files hold a few thousand tensors.
inline constexpr uint64_t kGgufMaxMetadataBytes = uint64_t{256} << 20;
inline constexpr uint64_t kGgufMaxTensorCount = uint64_t{1} << 20;

// Everything one shard holds. Tensor data pointers point into the MappedFile that was parsed.
struct GgufShardContents {
  uint32_t version = 0;
  uint64_t alignment = kGgufDefaultAlignment;
  uint64_t data_start = 0;  // absolute offset of the data section
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::vector<uint64_t> metadata_offsets;  // absolute offset of each key, parallel to metadata
  std::vector<GgufTensorInfo> tensors;
};

// Parses and validates the whole shard: header, metadata, tensor infos and the placement of
// every tensor's data inside the file. Errors are InvalidArgument and read
// "<file>: offset <N>: <what>", naming the key or tensor at fault.
absl::StatusOr<GgufShardContents> ParseGgufShard(const MappedFile& file, int shard);

}  // namespace hobbit::runtime::internal
