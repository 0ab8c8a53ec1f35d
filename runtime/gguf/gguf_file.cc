#include "runtime/gguf/gguf_file.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/internal/gguf_parser.h"
#include "runtime/gguf/internal/gguf_split_path.h"
#include "runtime/gguf/internal/mapped_file.h"

namespace hobbit::runtime {
namespace {

// Debian's Abseil has its own string_view type; the public API takes std::string_view.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr char kSplitNo[] = "split.no";
constexpr char kSplitCount[] = "split.count";
constexpr char kSplitTensorsCount[] = "split.tensors.count";
// Bounds GetPerLayerInt's allocation when a hostile file claims an absurd layer count.
constexpr int64_t kMaxLayers = 1 << 16;

const GgufValue* FindIn(const std::vector<std::pair<std::string, GgufValue>>& metadata,
                        std::string_view key) {
  for (const auto& [k, v] : metadata) {
    if (k == key) return &v;
  }
  return nullptr;
}

absl::Status Missing(std::string_view key) {
  return absl::NotFoundError(absl::StrCat("metadata key '", AsAbsl(key), "' is missing"));
}

absl::Status WrongType(std::string_view key, absl::string_view expected, const GgufValue& v) {
  std::string actual = GgufValueTypeName(v.type());
  if (v.is_array()) actual = absl::StrCat("array of ", GgufValueTypeName(v.array_type()));
  return absl::InvalidArgumentError(
      absl::StrCat("metadata key '", AsAbsl(key), "' has type ", actual, ", expected ", expected));
}

// The absolute offset of `key` in the shard, for messages; 0 if absent.
uint64_t KeyOffset(const internal::GgufShardContents& shard, std::string_view key) {
  for (size_t i = 0; i < shard.metadata.size(); ++i) {
    if (shard.metadata[i].first == key) return shard.metadata_offsets[i];
  }
  return 0;
}

// Checks a shard's split.no / split.count against its place in the set.
absl::Status CheckSplitKeys(const internal::GgufShardContents& shard, const std::string& name,
                            int index, int n_shards) {
  const GgufValue* no = FindIn(shard.metadata, kSplitNo);
  const GgufValue* count = FindIn(shard.metadata, kSplitCount);
  if (count != nullptr && count->AsInt() != n_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": offset ", KeyOffset(shard, kSplitCount), ": split.count is ",
        count->DebugString(), " but ", n_shards,
        n_shards == 1 ? " file was opened (a split model is opened by its first shard, "
                        "named PREFIX-00001-of-0000N.gguf)"
                      : " shards were found from the file name"));
  }
  if (no != nullptr && no->AsInt() != index) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": offset ", KeyOffset(shard, kSplitNo), ": split.no is ", no->DebugString(),
        " but the file name says shard ", index + 1, " (split.no counts from 0)"));
  }
  return absl::OkStatus();
}

}  // namespace

GgufFile::~GgufFile() = default;

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  std::optional<internal::GgufSplitPath> split = internal::ParseGgufShardPath(path);
  if (!split) {
    HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<internal::MappedFile> m,
                            internal::MappedFile::Open(path));
    HOBBIT_RETURN_IF_ERROR(file->AddShard(std::move(m), 0, 1));
    HOBBIT_RETURN_IF_ERROR(file->CheckSplitTotals());
    return file;
  }
  if (split->index != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is shard ", split->index + 1, " of ", split->count,
                     " of a split model; open the first shard '",
                     internal::GgufShardPath(split->prefix, 0, split->count), "'"));
  }
  for (int i = 0; i < split->count; ++i) {
    std::string shard_path = internal::GgufShardPath(split->prefix, i, split->count);
    absl::StatusOr<std::unique_ptr<internal::MappedFile>> m =
        internal::MappedFile::Open(shard_path);
    if (!m.ok()) {
      return absl::Status(m.status().code(),
                          absl::StrCat("split model '", path, "': shard ", i + 1, " of ",
                                       split->count, " '", shard_path,
                                       "' cannot be opened: ", m.status().message()));
    }
    HOBBIT_RETURN_IF_ERROR(file->AddShard(*std::move(m), i, split->count));
  }
  HOBBIT_RETURN_IF_ERROR(file->CheckSplitTotals());
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::vector<uint8_t> bytes,
                                                              std::string name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = name;
  HOBBIT_RETURN_IF_ERROR(file->AddShard(
      internal::MappedFile::FromBytes(bytes, std::move(name)), 0, 1));
  HOBBIT_RETURN_IF_ERROR(file->CheckSplitTotals());
  return file;
}

absl::Status GgufFile::AddShard(std::unique_ptr<internal::MappedFile> mapping, int index,
                                int n_shards) {
  HOBBIT_ASSIGN_OR_RETURN(internal::GgufShardContents shard,
                          internal::ParseGgufShard(*mapping, index));
  HOBBIT_RETURN_IF_ERROR(CheckSplitKeys(shard, mapping->name(), index, n_shards));
  if (index == 0) {
    version_ = shard.version;
    alignment_ = shard.alignment;
    metadata_ = std::move(shard.metadata);
    metadata_offsets_ = std::move(shard.metadata_offsets);
    metadata_index_.reserve(metadata_.size());
    for (size_t i = 0; i < metadata_.size(); ++i) metadata_index_[metadata_[i].first] = i;
  }
  tensors_.reserve(tensors_.size() + shard.tensors.size());
  for (GgufTensorInfo& t : shard.tensors) {
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
      const GgufTensorInfo& first = tensors_[tensor_index_[t.name]];
      return absl::InvalidArgumentError(absl::StrCat(
          mapping->name(), ": offset ", t.file_offset, ": tensor '", t.name,
          "' is also in shard ", first.shard + 1, " '", shard_paths_[first.shard], "'"));
    }
    tensors_.push_back(std::move(t));
  }
  total_bytes_ += mapping->size();
  shard_paths_.push_back(mapping->name());
  mappings_.push_back(std::move(mapping));
  return absl::OkStatus();
}

absl::Status GgufFile::CheckSplitTotals() const {
  const GgufValue* total = Find(kSplitTensorsCount);
  if (total == nullptr || total->AsInt() == static_cast<int64_t>(tensors_.size())) {
    return absl::OkStatus();
  }
  size_t index = metadata_index_.find(kSplitTensorsCount)->second;
  return absl::InvalidArgumentError(absl::StrCat(
      shard_paths_[0], ": offset ", metadata_offsets_[index], ": split.tensors.count is ",
      total->DebugString(), " but the ", n_shards(), " shard(s) hold ", tensors_.size(),
      " tensors"));
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(AsAbsl(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  std::optional<int64_t> i = v->AsInt();
  if (!i) {
    if (v->type() == GgufValueType::kUint64) {
      return absl::InvalidArgumentError(absl::StrCat("metadata key '", AsAbsl(key), "' = ",
                                                     v->DebugString(), " exceeds INT64_MAX"));
    }
    return WrongType(key, "an integer", *v);
  }
  return *i;
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  std::optional<double> f = v->AsFloat();
  if (!f) return WrongType(key, "a float", *v);
  return *f;
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  std::optional<bool> b = v->AsBool();
  if (!b) return WrongType(key, "bool", *v);
  return *b;
}

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  const std::string* s = v->AsString();
  if (s == nullptr) return WrongType(key, "str", *v);
  return *s;
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetPerLayerInt(std::string_view key,
                                                              int64_t n_layers) const {
  if (n_layers < 0 || n_layers > kMaxLayers) {
    return absl::InvalidArgumentError(absl::StrCat("metadata key '", AsAbsl(key), "': layer count ",
                                                   n_layers, " is outside [0, ", kMaxLayers,
                                                   "]"));
  }
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (!v->is_array()) {
    HOBBIT_ASSIGN_OR_RETURN(int64_t i, GetInt(key));
    return std::vector<int64_t>(static_cast<size_t>(n_layers), i);
  }
  std::optional<std::vector<int64_t>> a = v->AsIntArray();
  if (!a) return WrongType(key, "an integer or an array of integers", *v);
  if (static_cast<int64_t>(a->size()) != n_layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata key '", AsAbsl(key), "' has ", a->size(), " per-layer values, expected ",
        n_layers));
  }
  return *std::move(a);
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(AsAbsl(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace hobbit::runtime
