// GgufWriter: builds GGUF files (versions 2 and 3) in the strict layout llama.cpp requires
// (tensor i's data offset is the running sum of the padded sizes of tensors 0..i-1).
//
//   GgufWriter w;                                   // version 3, alignment 32
//   w.Set("general.architecture", GgufValue::String("llama"));
//   HOBBIT_RETURN_IF_ERROR(w.AddTensor("output_norm.weight", 0, {64}, bytes));
//   HOBBIT_RETURN_IF_ERROR(w.WriteToFile("model.gguf"));
//
// Used by `hobbit-tool synth`, by tests, and by fixture generators.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/gguf/gguf_value.h"

namespace hobbit::runtime {

namespace internal {
class GgufSink;
}  // namespace internal

// Collects metadata and tensors, then writes them. Not thread-safe. Tensors added with
// AddTensorView are borrowed: the caller keeps their bytes alive until the last Write call.
class GgufWriter {
 public:
  // `version` must be 2 or 3 and `alignment` a power of two; both are checked by the Write
  // calls. An alignment other than 32 is recorded as general.alignment (u32) unless set.
  explicit GgufWriter(uint32_t version = 3, uint64_t alignment = 32);

  // Keeps insertion order; replaces the value (in place) of an existing key.
  void Set(std::string key, GgufValue value);
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }

  // Validates the name (non-empty, < 64 bytes, unique), the type id, the dims (1 to 4, each
  // >= 0, ne[0] a multiple of the block size, product without overflow) and the byte count.
  absl::Status AddTensor(std::string name, uint32_t type, std::vector<int64_t> ne,
                         std::vector<uint8_t> bytes);
  absl::Status AddTensorView(std::string name, uint32_t type, std::vector<int64_t> ne,
                             const uint8_t* bytes, uint64_t nbytes);
  // A tensor whose bytes are produced when the writer reaches it: `fill` writes exactly the
  // tensor's byte count into the buffer it is given. Lets a file larger than memory be written
  // one tensor at a time (`hobbit-tool synth` at full model sizes). Called once per Write.
  using TensorFill = std::function<absl::Status(uint8_t* dst)>;
  absl::Status AddTensorGenerated(std::string name, uint32_t type, std::vector<int64_t> ne,
                                  TensorFill fill);

  absl::StatusOr<std::vector<uint8_t>> WriteToBytes() const;
  // Streams to `path` (through `path`.tmp, renamed at the end), never holding the whole
  // file in memory.
  absl::Status WriteToFile(const std::string& path) const;
  // Writes PREFIX-00001-of-0000N.gguf ... PREFIX-0000N-of-0000N.gguf, the tensors split in
  // order into n_shards contiguous runs of nearly equal count. Shard 1 carries all metadata;
  // every shard carries split.no (u16), split.count (u16) and split.tensors.count (i32), as
  // gguf-py does. 1 <= n_shards <= 65535.
  absl::Status WriteSplit(const std::string& path_prefix, int n_shards) const;

  // The file name of shard `index` (0-based) of `n_shards`: PREFIX-0000{index+1}-of-0000N.gguf.
  static std::string ShardPath(const std::string& path_prefix, int index, int n_shards);

 private:
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> owned;      // the bytes of AddTensor
    const uint8_t* view = nullptr;  // the borrowed bytes of AddTensorView
    uint64_t nbytes;
    TensorFill fill;                // AddTensorGenerated's producer (else empty)

    const uint8_t* data() const { return view != nullptr ? view : owned.data(); }
  };

  absl::Status CheckTensor(const std::string& name, uint32_t type, const std::vector<int64_t>& ne,
                           uint64_t nbytes) const;
  absl::Status CheckOptions() const;
  // The metadata to write: metadata_ plus general.alignment when it is not the default.
  std::vector<std::pair<std::string, GgufValue>> EffectiveMetadata() const;
  absl::Status WriteShard(internal::GgufSink& sink,
                          const std::vector<std::pair<std::string, GgufValue>>& metadata,
                          size_t first_tensor, size_t end_tensor) const;
  absl::Status WriteShardToFile(const std::string& path,
                                const std::vector<std::pair<std::string, GgufValue>>& metadata,
                                size_t first_tensor, size_t end_tensor) const;

  uint32_t version_;
  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace hobbit::runtime
