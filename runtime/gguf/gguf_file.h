// GgufFile: a read-only, memory-mapped GGUF model file (versions 2 and 3), including split
// models (NAME-00001-of-0000N.gguf), with fully bounds-checked parsing.
//
//   HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(path));
//   HOBBIT_ASSIGN_OR_RETURN(int64_t n_layers, file->GetInt("llama.block_count"));
//   const GgufTensorInfo* t = file->FindTensor("token_embd.weight");  // t->data, t->nbytes
//
// Every malformed input (truncated, corrupted, hostile) yields an InvalidArgument error that
// reads "<file>: offset <N>: <what>", naming the key or tensor at fault; no input can crash the
// reader or make it read out of bounds. Memory is bounded by fixed limits (256 MiB of metadata,
// 2^20 tensors per shard; see internal/gguf_parser.h), never by counts read from the file.
// Tensor data is accepted at any aligned, in-bounds, non-overlapping offsets (ggml itself
// requires the running-sum layout that GgufWriter emits).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/gguf/gguf_value.h"

namespace hobbit::runtime {

namespace internal {
class MappedFile;
}  // namespace internal

// One tensor of the file. `data` points into the mapping owned by the GgufFile; it is valid
// for the lifetime of that GgufFile and [data, data + nbytes) lies inside the shard file.
struct GgufTensorInfo {
  std::string name;
  uint32_t type = 0;  // ggml type id (kernels/base/ggml_type.h)
  int n_dims = 0;
  std::array<int64_t, 4> ne = {1, 1, 1, 1};  // ne[0] is the fastest-varying; unused dims are 1
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;
  int shard = 0;             // index into the shard files, 0 for the first
  uint64_t file_offset = 0;  // absolute byte offset of the data in its shard file

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

// An opened GGUF model. Immutable after Open/FromBytes, so concurrent reads from any thread
// are safe. Owns the mappings (or the bytes) that every GgufTensorInfo::data points into.
class GgufFile {
 public:
  // Maps `path` read-only. If its name ends in -00001-of-0000N.gguf, opens all N shards;
  // naming any other shard of a split model is an error that names the first shard.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses an in-memory file (one shard); used by tests and fuzzing. The bytes are copied
  // into a page-aligned buffer, so tensor data is aligned exactly as in a mapped file.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBytes(std::vector<uint8_t> bytes,
                                                             std::string name = "<memory>");

  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  ~GgufFile();

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }
  int n_shards() const { return static_cast<int>(shard_paths_.size()); }
  const std::vector<std::string>& shard_paths() const { return shard_paths_; }

  // Metadata of the first shard, in file order (the other shards carry only split.* keys).
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* Find(std::string_view key) const;

  // Typed getters. NotFound if the key is absent; InvalidArgument naming the key, the expected
  // and the actual type if it has another type. GetInt accepts every integer width and bool;
  // GetFloat accepts floats and integers.
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  // Per-layer integer keys (e.g. "llama.attention.head_count"): a scalar, repeated n_layers
  // times, or an integer array of exactly n_layers elements.
  absl::StatusOr<std::vector<int64_t>> GetPerLayerInt(std::string_view key,
                                                      int64_t n_layers) const;

  // Tensors in file order (shard by shard).
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

  // Sum of the shard file sizes, for identity and cache keys.
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  GgufFile() = default;

  // Parses shard `index` held by `mapping` and appends its tensors; the first shard also
  // provides metadata, version and alignment.
  absl::Status AddShard(std::unique_ptr<internal::MappedFile> mapping, int index, int n_shards);
  // split.tensors.count, when present, must equal the number of tensors of all shards.
  absl::Status CheckSplitTotals() const;

  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::string path_;
  std::vector<std::string> shard_paths_;
  std::vector<std::unique_ptr<internal::MappedFile>> mappings_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<uint64_t> metadata_offsets_;  // where each key starts in the first shard
  absl::flat_hash_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
  uint64_t total_bytes_ = 0;
};

}  // namespace hobbit::runtime
