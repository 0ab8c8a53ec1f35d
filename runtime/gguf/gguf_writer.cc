#include "runtime/gguf/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "runtime/gguf/internal/gguf_parser.h"
#include "runtime/gguf/internal/gguf_split_path.h"

namespace hobbit::runtime {
namespace internal {

// Where serialized bytes go: a growing vector or a buffered file.
class GgufSink {
 public:
  virtual ~GgufSink() = default;
  virtual absl::Status Write(const void* data, size_t n) = 0;
  uint64_t pos() const { return pos_; }

  template <typename V>
  absl::Status Put(V v) {
    return Write(&v, sizeof(v));
  }
  absl::Status PutString(const std::string& s) {
    HOBBIT_RETURN_IF_ERROR(Put<uint64_t>(s.size()));
    return Write(s.data(), s.size());
  }
  absl::Status Pad(uint64_t alignment) {
    static constexpr uint8_t kZeros[256] = {};
    uint64_t n = (alignment - pos_ % alignment) % alignment;
    while (n > 0) {
      size_t chunk = n < sizeof(kZeros) ? static_cast<size_t>(n) : sizeof(kZeros);
      HOBBIT_RETURN_IF_ERROR(Write(kZeros, chunk));
      n -= chunk;
    }
    return absl::OkStatus();
  }

 protected:
  uint64_t pos_ = 0;
};

}  // namespace internal

namespace {

using T = GgufValueType;
using Metadata = std::vector<std::pair<std::string, GgufValue>>;

class VectorSink : public internal::GgufSink {
 public:
  absl::Status Write(const void* data, size_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
    pos_ += n;
    return absl::OkStatus();
  }
  std::vector<uint8_t> Take() && { return std::move(bytes_); }

 private:
  std::vector<uint8_t> bytes_;
};

class FileSink : public internal::GgufSink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  ~FileSink() override {
    if (f_ != nullptr) std::fclose(f_);
  }
  absl::Status Open() {
    f_ = std::fopen(path_.c_str(), "wb");
    if (f_ == nullptr) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot create '", path_, "'"));
    }
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
    return absl::OkStatus();
  }
  absl::Status Write(const void* data, size_t n) override {
    if (n > 0 && std::fwrite(data, 1, n, f_) != n) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot write '", path_, "'"));
    }
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status Close() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot close '", path_, "'"));
    return absl::OkStatus();
  }

 private:
  std::string path_;
  FILE* f_ = nullptr;
};

template <typename Int>
absl::Status PutInts(internal::GgufSink& sink, const std::vector<int64_t>& v) {
  for (int64_t x : v) HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<Int>(x)));
  return absl::OkStatus();
}

absl::Status PutIntArray(internal::GgufSink& sink, T type, const GgufValue& value) {
  std::vector<int64_t> v = value.AsIntArray().value_or(std::vector<int64_t>{});
  switch (type) {
    case T::kUint8: case T::kBool: return PutInts<uint8_t>(sink, v);
    case T::kInt8: return PutInts<int8_t>(sink, v);
    case T::kUint16: return PutInts<uint16_t>(sink, v);
    case T::kInt16: return PutInts<int16_t>(sink, v);
    case T::kUint32: return PutInts<uint32_t>(sink, v);
    case T::kInt32: return PutInts<int32_t>(sink, v);
    default: return PutInts<int64_t>(sink, v);
  }
}

absl::Status PutArray(internal::GgufSink& sink, const GgufValue& value) {
  T type = value.array_type();
  HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<uint32_t>(type)));
  HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<uint64_t>(value.array_size())));
  switch (type) {
    case T::kString:
      for (const std::string& s : *value.AsStringArray()) {
        HOBBIT_RETURN_IF_ERROR(sink.PutString(s));
      }
      return absl::OkStatus();
    case T::kFloat32: {
      std::vector<float> v = value.AsFloatArray().value_or(std::vector<float>{});
      for (float f : v) HOBBIT_RETURN_IF_ERROR(sink.Put(f));
      return absl::OkStatus();
    }
    case T::kFloat64: {
      std::vector<double> v = value.AsDoubleArray().value_or(std::vector<double>{});
      for (double d : v) HOBBIT_RETURN_IF_ERROR(sink.Put(d));
      return absl::OkStatus();
    }
    case T::kUint64:
      for (uint64_t u : *value.AsUint64Array()) HOBBIT_RETURN_IF_ERROR(sink.Put(u));
      return absl::OkStatus();
    default:
      return PutIntArray(sink, type, value);
  }
}

absl::Status PutValue(internal::GgufSink& sink, const GgufValue& value) {
  HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<uint32_t>(value.type())));
  switch (value.type()) {
    case T::kArray: return PutArray(sink, value);
    case T::kString: return sink.PutString(*value.AsString());
    case T::kFloat32: return sink.Put(static_cast<float>(*value.AsFloat()));
    case T::kFloat64: return sink.Put(*value.AsFloat());
    case T::kUint64: return sink.Put(*value.AsUint64());
    case T::kBool: return sink.Put(static_cast<uint8_t>(*value.AsBool() ? 1 : 0));
    case T::kUint8: return sink.Put(static_cast<uint8_t>(*value.AsInt()));
    case T::kInt8: return sink.Put(static_cast<int8_t>(*value.AsInt()));
    case T::kUint16: return sink.Put(static_cast<uint16_t>(*value.AsInt()));
    case T::kInt16: return sink.Put(static_cast<int16_t>(*value.AsInt()));
    case T::kUint32: return sink.Put(static_cast<uint32_t>(*value.AsInt()));
    case T::kInt32: return sink.Put(static_cast<int32_t>(*value.AsInt()));
    case T::kInt64: return sink.Put(*value.AsInt());
  }
  return absl::InternalError("unreachable GGUF value type");
}

uint64_t PaddedSize(uint64_t n, uint64_t alignment) {
  return n + (alignment - n % alignment) % alignment;
}

void SetIn(Metadata& metadata, std::string key, GgufValue value) {
  for (auto& [k, v] : metadata) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata.emplace_back(std::move(key), std::move(value));
}

}  // namespace

GgufWriter::GgufWriter(uint32_t version, uint64_t alignment)
    : version_(version), alignment_(alignment) {}

void GgufWriter::Set(std::string key, GgufValue value) {
  SetIn(metadata_, std::move(key), std::move(value));
}

absl::Status GgufWriter::CheckTensor(const std::string& name, uint32_t type,
                                     const std::vector<int64_t>& ne, uint64_t nbytes) const {
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", what));
  };
  if (name.empty() || name.size() > internal::kGgufMaxTensorNameBytes) {
    return error(absl::StrCat("name must be 1 to ", internal::kGgufMaxTensorNameBytes, " bytes"));
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) return error("duplicate tensor name");
  }
  std::optional<kernels::GgmlTypeTraits> traits = kernels::GetGgmlTypeTraits(type);
  if (!traits) return error(absl::StrCat("unknown ggml type id ", type));
  if (ne.empty() || ne.size() > static_cast<size_t>(internal::kGgufMaxDims)) {
    return error(absl::StrCat("has ", ne.size(), " dims, expected 1 to 4"));
  }
  for (int64_t d : ne) {
    if (d < 0) return error(absl::StrCat("negative dimension ", d));
  }
  if (ne[0] % traits->block_size != 0) {
    return error(absl::StrCat("ne[0] = ", ne[0], " is not a multiple of the ",
                              absl::string_view(traits->name.data(), traits->name.size()),
                              " block size ", traits->block_size));
  }
  int64_t expected = ne[0] / traits->block_size;
  bool overflow = __builtin_mul_overflow(expected, traits->block_bytes, &expected);
  for (size_t d = 1; d < ne.size(); ++d) {
    overflow |= __builtin_mul_overflow(expected, ne[d], &expected);
  }
  if (overflow) return error("dims overflow the byte count");
  if (static_cast<uint64_t>(expected) != nbytes) {
    return error(absl::StrCat("has ", nbytes, " bytes, its type and dims need ", expected));
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::AddTensor(std::string name, uint32_t type, std::vector<int64_t> ne,
                                   std::vector<uint8_t> bytes) {
  HOBBIT_RETURN_IF_ERROR(CheckTensor(name, type, ne, bytes.size()));
  uint64_t nbytes = bytes.size();
  tensors_.push_back(Tensor{std::move(name), type, std::move(ne), std::move(bytes), nullptr,
                            nbytes, {}});
  return absl::OkStatus();
}

absl::Status GgufWriter::AddTensorView(std::string name, uint32_t type, std::vector<int64_t> ne,
                                       const uint8_t* bytes, uint64_t nbytes) {
  HOBBIT_RETURN_IF_ERROR(CheckTensor(name, type, ne, nbytes));
  if (bytes == nullptr && nbytes > 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': null bytes"));
  }
  tensors_.push_back(Tensor{std::move(name), type, std::move(ne), {}, bytes, nbytes, {}});
  return absl::OkStatus();
}

absl::Status GgufWriter::AddTensorGenerated(std::string name, uint32_t type, std::vector<int64_t> ne,
                                            TensorFill fill) {
  const auto traits = kernels::GetGgmlTypeTraits(type);
  if (!traits) return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': unknown type ", type));
  int64_t elements = 1;
  for (int64_t d : ne) {
    if (d < 0 || (d > 0 && elements > std::numeric_limits<int64_t>::max() / d)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': bad dims"));
    }
    elements *= d;
  }
  const uint64_t nbytes = static_cast<uint64_t>(elements / traits->block_size * traits->block_bytes);
  HOBBIT_RETURN_IF_ERROR(CheckTensor(name, type, ne, nbytes));
  if (!fill) return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': no fill function"));
  tensors_.push_back(Tensor{std::move(name), type, std::move(ne), {}, nullptr, nbytes, std::move(fill)});
  return absl::OkStatus();
}

absl::Status GgufWriter::CheckOptions() const {
  if (version_ != 2 && version_ != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("GgufWriter: version ", version_, " is not supported (2 or 3)"));
  }
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0 ||
      alignment_ > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("GgufWriter: alignment ", alignment_, " is not a 32-bit power of two"));
  }
  for (const auto& [k, v] : metadata_) {
    if (k == "general.alignment" &&
        (v.type() != T::kUint32 || static_cast<uint64_t>(*v.AsInt()) != alignment_)) {
      return absl::InvalidArgumentError(
          absl::StrCat("GgufWriter: general.alignment is ", v.DebugString(),
                       " but the writer aligns to ", alignment_));
    }
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, GgufValue>> GgufWriter::EffectiveMetadata() const {
  Metadata metadata = metadata_;
  if (alignment_ != internal::kGgufDefaultAlignment) {
    SetIn(metadata, "general.alignment", GgufValue::Uint32(static_cast<uint32_t>(alignment_)));
  }
  return metadata;
}

absl::Status GgufWriter::WriteShard(internal::GgufSink& sink, const Metadata& metadata,
                                    size_t first_tensor, size_t end_tensor) const {
  HOBBIT_RETURN_IF_ERROR(sink.Put(internal::kGgufMagic));
  HOBBIT_RETURN_IF_ERROR(sink.Put(version_));
  HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<uint64_t>(end_tensor - first_tensor)));
  HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<uint64_t>(metadata.size())));
  for (const auto& [key, value] : metadata) {
    HOBBIT_RETURN_IF_ERROR(sink.PutString(key));
    HOBBIT_RETURN_IF_ERROR(PutValue(sink, value));
  }
  uint64_t offset = 0;
  for (size_t i = first_tensor; i < end_tensor; ++i) {
    const Tensor& t = tensors_[i];
    HOBBIT_RETURN_IF_ERROR(sink.PutString(t.name));
    HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<uint32_t>(t.ne.size())));
    for (int64_t d : t.ne) HOBBIT_RETURN_IF_ERROR(sink.Put(static_cast<uint64_t>(d)));
    HOBBIT_RETURN_IF_ERROR(sink.Put(t.type));
    HOBBIT_RETURN_IF_ERROR(sink.Put(offset));
    offset += PaddedSize(t.nbytes, alignment_);
  }
  if (first_tensor == end_tensor) return absl::OkStatus();
  HOBBIT_RETURN_IF_ERROR(sink.Pad(alignment_));
  std::vector<uint8_t> generated;
  for (size_t i = first_tensor; i < end_tensor; ++i) {
    const Tensor& t = tensors_[i];
    const uint8_t* data = t.data();
    if (t.fill) {
      generated.resize(t.nbytes);
      HOBBIT_RETURN_IF_ERROR(t.fill(generated.data()));
      data = generated.data();
    }
    HOBBIT_RETURN_IF_ERROR(sink.Write(data, t.nbytes));
    HOBBIT_RETURN_IF_ERROR(sink.Pad(alignment_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> GgufWriter::WriteToBytes() const {
  HOBBIT_RETURN_IF_ERROR(CheckOptions());
  VectorSink sink;
  HOBBIT_RETURN_IF_ERROR(WriteShard(sink, EffectiveMetadata(), 0, tensors_.size()));
  return std::move(sink).Take();
}

absl::Status GgufWriter::WriteShardToFile(const std::string& path, const Metadata& metadata,
                                          size_t first_tensor, size_t end_tensor) const {
  std::string tmp = path + ".tmp";
  FileSink sink(tmp);
  HOBBIT_RETURN_IF_ERROR(sink.Open());
  absl::Status status = WriteShard(sink, metadata, first_tensor, end_tensor);
  if (status.ok()) status = sink.Close();
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot rename '", tmp, "' to '", path, "'"));
  }
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

absl::Status GgufWriter::WriteToFile(const std::string& path) const {
  HOBBIT_RETURN_IF_ERROR(CheckOptions());
  return WriteShardToFile(path, EffectiveMetadata(), 0, tensors_.size());
}

absl::Status GgufWriter::WriteSplit(const std::string& path_prefix, int n_shards) const {
  HOBBIT_RETURN_IF_ERROR(CheckOptions());
  if (n_shards < 1 || n_shards > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("GgufWriter: ", n_shards, " shards is outside [1, 65535]"));
  }
  if (tensors_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError("GgufWriter: too many tensors for split.tensors.count");
  }
  const Metadata all = EffectiveMetadata();
  size_t n = tensors_.size();
  for (int i = 0; i < n_shards; ++i) {
    // Shards after the first carry only the split keys, as gguf-py writes them; every shard
    // keeps general.alignment so each one parses alone.
    Metadata metadata;
    if (i == 0) {
      metadata = all;
    } else if (alignment_ != internal::kGgufDefaultAlignment) {
      SetIn(metadata, "general.alignment", GgufValue::Uint32(static_cast<uint32_t>(alignment_)));
    }
    SetIn(metadata, "split.no", GgufValue::Uint16(static_cast<uint16_t>(i)));
    SetIn(metadata, "split.count", GgufValue::Uint16(static_cast<uint16_t>(n_shards)));
    SetIn(metadata, "split.tensors.count", GgufValue::Int32(static_cast<int32_t>(n)));
    size_t first = n * static_cast<size_t>(i) / static_cast<size_t>(n_shards);
    size_t end = n * static_cast<size_t>(i + 1) / static_cast<size_t>(n_shards);
    HOBBIT_RETURN_IF_ERROR(
        WriteShardToFile(ShardPath(path_prefix, i, n_shards), metadata, first, end));
  }
  return absl::OkStatus();
}

std::string GgufWriter::ShardPath(const std::string& path_prefix, int index, int n_shards) {
  return internal::GgufShardPath(path_prefix, index, n_shards);
}

}  // namespace hobbit::runtime
