#include "runtime/gguf/internal/gguf_parser.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_format.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"

namespace hobbit::runtime::internal {
namespace {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; the parser reads fields with memcpy");

using T = GgufValueType;

// Smallest possible encodings, used to reject counts that cannot fit in the bytes left before
// anything is reserved: a KV is a key length (8), a value type (4) and at least one byte; a
// tensor info is a name length (8), n_dims (4), a type (4) and an offset (8).
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;
// Entries reserved up front; more grow as they are actually parsed.
constexpr uint64_t kReserveLimit = 4096;

// A read position in the file; every read is bounds-checked and every error names the offset.
class Cursor {
 public:
  explicit Cursor(const MappedFile& file) : file_(file) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return file_.size() - pos_; }
  // Bytes left before the metadata budget runs out (the end of the file when none is set).
  uint64_t budget_left() const { return budget_end_ > pos_ ? budget_end_ - pos_ : 0; }
  void SetBudget(uint64_t bytes_from_here) {
    budget_end_ = bytes_from_here < remaining() ? pos_ + bytes_from_here : file_.size();
  }
  void ClearBudget() { budget_end_ = file_.size(); }
  bool over_budget() const { return budget_end_ < file_.size() && pos_ >= budget_end_; }
  const MappedFile& file() const { return file_; }

  absl::Status Error(uint64_t offset, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_.name(), ": offset ", offset, ": ", what));
  }

  template <typename V>
  absl::Status Read(V* out, absl::string_view what) {
    if (remaining() < sizeof(V)) {
      return Error(pos_, absl::StrCat("truncated: ", what, " needs ", sizeof(V), " bytes, ",
                                      remaining(), " left"));
    }
    std::memcpy(out, file_.data() + pos_, sizeof(V));
    pos_ += sizeof(V);
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string* out, absl::string_view what, uint64_t max_len) {
    uint64_t start = pos_;
    uint64_t len = 0;
    HOBBIT_RETURN_IF_ERROR(Read(&len, absl::StrCat(what, " length")));
    if (len > remaining()) {
      return Error(start, absl::StrCat(what, " length ", len, " runs past the end of the file (",
                                       remaining(), " bytes left)"));
    }
    if (len > max_len) {
      return Error(start, absl::StrCat(what, " length ", len, " exceeds the limit of ", max_len));
    }
    if (len > budget_left()) {
      return Error(start, absl::StrCat(what, " length ", len, " exceeds the metadata size limit (",
                                       kGgufMaxMetadataBytes, " bytes)"));
    }
    out->assign(reinterpret_cast<const char*>(file_.data() + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

 private:
  const MappedFile& file_;
  uint64_t pos_ = 0;
  uint64_t budget_end_ = file_.size();
};

std::string Quoted(absl::string_view s) { return absl::StrCat("'", absl::CHexEscape(s), "'"); }

// Reads one scalar of integer type `Int` as int64 (uint64 is handled by the caller).
template <typename Int>
absl::Status ReadInt(Cursor& c, int64_t* out, absl::string_view what) {
  Int v;
  HOBBIT_RETURN_IF_ERROR(c.Read(&v, what));
  *out = static_cast<int64_t>(v);
  return absl::OkStatus();
}

absl::Status ReadBool(Cursor& c, int64_t* out, absl::string_view what) {
  uint64_t at = c.pos();
  uint8_t b;
  HOBBIT_RETURN_IF_ERROR(c.Read(&b, what));
  if (b > 1) return c.Error(at, absl::StrCat(what, ": invalid bool byte ", int{b}, " (not 0/1)"));
  *out = b;
  return absl::OkStatus();
}

// Reads an integer or bool element of `type` widened to int64.
absl::Status ReadIntLike(Cursor& c, T type, int64_t* out, absl::string_view what) {
  switch (type) {
    case T::kUint8: return ReadInt<uint8_t>(c, out, what);
    case T::kInt8: return ReadInt<int8_t>(c, out, what);
    case T::kUint16: return ReadInt<uint16_t>(c, out, what);
    case T::kInt16: return ReadInt<int16_t>(c, out, what);
    case T::kUint32: return ReadInt<uint32_t>(c, out, what);
    case T::kInt32: return ReadInt<int32_t>(c, out, what);
    case T::kInt64: return ReadInt<int64_t>(c, out, what);
    case T::kBool: return ReadBool(c, out, what);
    default: break;
  }
  return c.Error(c.pos(), absl::StrCat(what, ": not an integer type"));
}

absl::StatusOr<GgufValue> ReadScalar(Cursor& c, T type, absl::string_view what) {
  switch (type) {
    case T::kString: {
      std::string s;
      HOBBIT_RETURN_IF_ERROR(c.ReadString(&s, absl::StrCat(what, " string"),
                                          std::numeric_limits<uint64_t>::max()));
      return GgufValue::String(std::move(s));
    }
    case T::kFloat32: {
      float f;
      HOBBIT_RETURN_IF_ERROR(c.Read(&f, what));
      return GgufValue::Float32(f);
    }
    case T::kFloat64: {
      double d;
      HOBBIT_RETURN_IF_ERROR(c.Read(&d, what));
      return GgufValue::Float64(d);
    }
    case T::kUint64: {
      uint64_t u;
      HOBBIT_RETURN_IF_ERROR(c.Read(&u, what));
      return GgufValue::Uint64(u);
    }
    case T::kBool: {
      int64_t b;
      HOBBIT_RETURN_IF_ERROR(ReadBool(c, &b, what));
      return GgufValue::Bool(b != 0);
    }
    default: {
      int64_t i;
      HOBBIT_RETURN_IF_ERROR(ReadIntLike(c, type, &i, what));
      return GgufValue::Integer(type, i);
    }
  }
}

template <typename V>
absl::StatusOr<std::vector<V>> ReadPlainArray(Cursor& c, uint64_t n, absl::string_view what) {
  std::vector<V> out(n);
  for (uint64_t i = 0; i < n; ++i) HOBBIT_RETURN_IF_ERROR(c.Read(&out[i], what));
  return out;
}

absl::StatusOr<GgufValue> ReadArrayElements(Cursor& c, T type, uint64_t n, absl::string_view what) {
  std::string elem = absl::StrCat(what, " element");
  switch (type) {
    case T::kString: {
      std::vector<std::string> out(n);
      // One description for all elements (the error's offset locates the element): building
      // one per element would cost an allocation per token of a 256k vocabulary.
      std::string elem_string = absl::StrCat(elem, " string");
      for (uint64_t i = 0; i < n; ++i) {
        HOBBIT_RETURN_IF_ERROR(
            c.ReadString(&out[i], elem_string, std::numeric_limits<uint64_t>::max()));
      }
      return GgufValue::StringArray(std::move(out));
    }
    case T::kFloat32: {
      HOBBIT_ASSIGN_OR_RETURN(std::vector<float> v, ReadPlainArray<float>(c, n, elem));
      return GgufValue::Float32Array(std::move(v));
    }
    case T::kFloat64: {
      HOBBIT_ASSIGN_OR_RETURN(std::vector<double> v, ReadPlainArray<double>(c, n, elem));
      return GgufValue::Float64Array(std::move(v));
    }
    case T::kUint64: {
      HOBBIT_ASSIGN_OR_RETURN(std::vector<uint64_t> v, ReadPlainArray<uint64_t>(c, n, elem));
      return GgufValue::Uint64Array(std::move(v));
    }
    default: {
      std::vector<int64_t> v(n);
      for (uint64_t i = 0; i < n; ++i) HOBBIT_RETURN_IF_ERROR(ReadIntLike(c, type, &v[i], elem));
      return GgufValue::IntegerArray(type, std::move(v));
    }
  }
}

absl::StatusOr<GgufValue> ReadArray(Cursor& c, absl::string_view what) {
  uint64_t type_at = c.pos();
  uint32_t type_id = 0;
  HOBBIT_RETURN_IF_ERROR(c.Read(&type_id, absl::StrCat(what, " array element type")));
  if (!IsValidGgufValueType(type_id)) {
    return c.Error(type_at, absl::StrCat(what, ": unknown array element type ", type_id));
  }
  T type = static_cast<T>(type_id);
  if (type == T::kArray) {
    return c.Error(type_at, absl::StrCat(what, ": nested arrays are not supported"));
  }
  uint64_t count_at = c.pos();
  uint64_t n;
  HOBBIT_RETURN_IF_ERROR(c.Read(&n, absl::StrCat(what, " array length")));
  // Strings take at least their 8-byte length, so this bounds n before anything is allocated.
  uint64_t min_elem = type == T::kString ? 8 : static_cast<uint64_t>(GgufValueTypeSize(type));
  if (n > c.remaining() / min_elem) {
    return c.Error(count_at, absl::StrCat(what, ": array of ", n, " ", GgufValueTypeName(type),
                                          " elements runs past the end of the file (",
                                          c.remaining(), " bytes left)"));
  }
  if (n > c.budget_left() / min_elem) {
    return c.Error(count_at, absl::StrCat(what, ": array of ", n, " ", GgufValueTypeName(type),
                                          " elements exceeds the metadata size limit (",
                                          kGgufMaxMetadataBytes, " bytes)"));
  }
  return ReadArrayElements(c, type, n, what);
}

// Reads the header; returns tensor_count and kv_count through the out parameters.
absl::Status ReadHeader(Cursor& c, GgufShardContents& out, uint64_t* n_tensors, uint64_t* n_kv) {
  if (c.remaining() == 0) return c.Error(0, "file is empty (not a GGUF file)");
  uint32_t magic;
  HOBBIT_RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kGgufMagic) {
    return c.Error(0, absl::StrFormat("bad magic 0x%08x (expected \"GGUF\"); not a GGUF file",
                                      magic));
  }
  HOBBIT_RETURN_IF_ERROR(c.Read(&out.version, "version"));
  if (out.version != 0 && (out.version & 0xFFFF) == 0) {
    return c.Error(4, absl::StrFormat("version field 0x%08x looks byte-swapped: big-endian "
                                      "GGUF files are not supported", out.version));
  }
  if (out.version < 2 || out.version > 3) {
    return c.Error(4, absl::StrCat("unsupported GGUF version ", out.version,
                                   " (supported: 2 and 3)"));
  }
  HOBBIT_RETURN_IF_ERROR(c.Read(n_tensors, "tensor_count"));
  HOBBIT_RETURN_IF_ERROR(c.Read(n_kv, "kv_count"));
  // Bounds both counts by the file size before anything is reserved for them.
  if (*n_kv > c.remaining() / kMinKvBytes) {
    return c.Error(16, absl::StrCat("kv_count ", *n_kv, " cannot fit in the ", c.remaining(),
                                    " bytes after the header"));
  }
  if (*n_tensors > (c.remaining() - *n_kv * kMinKvBytes) / kMinTensorInfoBytes) {
    return c.Error(8, absl::StrCat("tensor_count ", *n_tensors, " cannot fit in the ",
                                   c.remaining(), " bytes after the header"));
  }
  if (*n_tensors > kGgufMaxTensorCount) {
    return c.Error(8, absl::StrCat("tensor_count ", *n_tensors, " exceeds the limit of ",
                                   kGgufMaxTensorCount));
  }
  if (*n_kv > kGgufMaxMetadataBytes / kMinKvBytes) {
    return c.Error(16, absl::StrCat("kv_count ", *n_kv, " cannot fit in the metadata size limit (",
                                    kGgufMaxMetadataBytes, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status ReadMetadata(Cursor& c, uint64_t n_kv, GgufShardContents& out) {
  absl::flat_hash_set<std::string> seen;
  // Reserve only what a sane file needs: the count is bounded by the file size, which for a
  // large model is mostly tensor data, so reserving it all could be a huge allocation.
  out.metadata.reserve(std::min<uint64_t>(n_kv, kReserveLimit));
  out.metadata_offsets.reserve(std::min<uint64_t>(n_kv, kReserveLimit));
  c.SetBudget(kGgufMaxMetadataBytes);
  for (uint64_t i = 0; i < n_kv; ++i) {
    uint64_t key_at = c.pos();
    if (c.over_budget()) {
      return c.Error(key_at, absl::StrCat("kv #", i, ": metadata exceeds the size limit (",
                                          kGgufMaxMetadataBytes, " bytes)"));
    }
    std::string key;
    HOBBIT_RETURN_IF_ERROR(c.ReadString(&key, absl::StrCat("kv #", i, " key"), kGgufMaxKeyBytes));
    std::string what = absl::StrCat("key ", Quoted(key));
    if (!seen.insert(key).second) return c.Error(key_at, absl::StrCat("duplicate ", what));
    uint64_t type_at = c.pos();
    uint32_t type_id = 0;
    HOBBIT_RETURN_IF_ERROR(c.Read(&type_id, absl::StrCat(what, " value type")));
    if (!IsValidGgufValueType(type_id)) {
      return c.Error(type_at, absl::StrCat(what, ": unknown value type ", type_id));
    }
    T type = static_cast<T>(type_id);
    absl::StatusOr<GgufValue> value =
        type == T::kArray ? ReadArray(c, what) : ReadScalar(c, type, what);
    if (!value.ok()) return value.status();
    out.metadata.emplace_back(std::move(key), *std::move(value));
    out.metadata_offsets.push_back(key_at);
  }
  c.ClearBudget();
  return absl::OkStatus();
}

absl::Status ReadAlignment(const Cursor& c, GgufShardContents& out) {
  for (size_t i = 0; i < out.metadata.size(); ++i) {
    if (out.metadata[i].first != "general.alignment") continue;
    const GgufValue& v = out.metadata[i].second;
    uint64_t at = out.metadata_offsets[i];
    if (v.type() != T::kUint32) {
      return c.Error(at, absl::StrCat("key 'general.alignment' has type ",
                                      GgufValueTypeName(v.type()), ", expected u32"));
    }
    uint64_t a = static_cast<uint64_t>(*v.AsInt());
    if (a == 0 || (a & (a - 1)) != 0) {
      return c.Error(at, absl::StrCat("key 'general.alignment' = ", a,
                                      " is not a power of two"));
    }
    out.alignment = a;
  }
  return absl::OkStatus();
}

// Computes nbytes from type and dims with overflow checks; `at` is the tensor info's offset.
absl::Status ComputeTensorBytes(const Cursor& c, uint64_t at, const std::string& what,
                                GgufTensorInfo& t) {
  std::optional<kernels::GgmlTypeTraits> traits = kernels::GetGgmlTypeTraits(t.type);
  if (!traits) return c.Error(at, absl::StrCat(what, ": unknown ggml type id ", t.type));
  if (t.ne[0] % traits->block_size != 0) {
    return c.Error(at, absl::StrCat(what, ": ne[0] = ", t.ne[0], " is not a multiple of the ",
                                    absl::string_view(traits->name.data(), traits->name.size()),
                                    " block size ", traits->block_size));
  }
  int64_t elements = 1;
  int64_t nbytes = t.ne[0] / traits->block_size;
  bool overflow = __builtin_mul_overflow(nbytes, traits->block_bytes, &nbytes);
  for (int d = 0; d < kGgufMaxDims; ++d) {
    overflow |= __builtin_mul_overflow(elements, t.ne[d], &elements);
    if (d > 0) overflow |= __builtin_mul_overflow(nbytes, t.ne[d], &nbytes);
  }
  if (overflow) {
    return c.Error(at, absl::StrCat(what, ": dims [", t.ne[0], ", ", t.ne[1], ", ", t.ne[2],
                                    ", ", t.ne[3], "] overflow the element or byte count"));
  }
  t.nbytes = static_cast<uint64_t>(nbytes);
  return absl::OkStatus();
}

// Reads one tensor info, validating everything that does not depend on the data section.
absl::Status ReadTensorInfo(Cursor& c, uint64_t index, uint64_t alignment, GgufTensorInfo& t) {
  uint64_t at = c.pos();
  std::string what = absl::StrCat("tensor #", index);
  HOBBIT_RETURN_IF_ERROR(c.ReadString(&t.name, absl::StrCat(what, " name"),
                                      std::numeric_limits<uint64_t>::max()));
  if (t.name.size() > kGgufMaxTensorNameBytes) {
    return c.Error(at, absl::StrCat(what, ": name ", Quoted(t.name.substr(0, 80)), " is ",
                                    t.name.size(), " bytes, the limit is ",
                                    kGgufMaxTensorNameBytes));
  }
  what = absl::StrCat("tensor ", Quoted(t.name));
  uint32_t n_dims = 0;
  HOBBIT_RETURN_IF_ERROR(c.Read(&n_dims, absl::StrCat(what, " n_dims")));
  if (n_dims > kGgufMaxDims) {
    return c.Error(at, absl::StrCat(what, ": n_dims ", n_dims, " > ", kGgufMaxDims));
  }
  t.n_dims = static_cast<int>(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    HOBBIT_RETURN_IF_ERROR(c.Read(&t.ne[d], absl::StrCat(what, " ne[", d, "]")));
    if (t.ne[d] < 0) {
      return c.Error(at, absl::StrCat(what, ": negative dimension ne[", d, "] = ", t.ne[d]));
    }
  }
  HOBBIT_RETURN_IF_ERROR(c.Read(&t.type, absl::StrCat(what, " type")));
  uint64_t offset;
  HOBBIT_RETURN_IF_ERROR(c.Read(&offset, absl::StrCat(what, " offset")));
  HOBBIT_RETURN_IF_ERROR(ComputeTensorBytes(c, at, what, t));
  if (offset % alignment != 0) {
    return c.Error(at, absl::StrCat(what, ": data offset ", offset,
                                    " is not a multiple of the alignment ", alignment));
  }
  t.file_offset = offset;  // relative for now; made absolute once the data section is known
  return absl::OkStatus();
}

absl::Status ReadTensorInfos(Cursor& c, uint64_t n_tensors, int shard, GgufShardContents& out,
                             std::vector<uint64_t>& info_offsets) {
  absl::flat_hash_set<std::string> names;
  out.tensors.reserve(std::min<uint64_t>(n_tensors, kReserveLimit));
  info_offsets.reserve(std::min<uint64_t>(n_tensors, kReserveLimit));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    info_offsets.push_back(c.pos());
    GgufTensorInfo t;
    t.shard = shard;
    HOBBIT_RETURN_IF_ERROR(ReadTensorInfo(c, i, out.alignment, t));
    if (!names.insert(t.name).second) {
      return c.Error(info_offsets.back(), absl::StrCat("duplicate tensor name ", Quoted(t.name)));
    }
    out.tensors.push_back(std::move(t));
  }
  return absl::OkStatus();
}

// Places every tensor inside the data section and rejects overlaps; any aligned in-bounds
// order is accepted (ggml itself requires the strict running-sum layout).
absl::Status PlaceTensorData(const Cursor& c, const std::vector<uint64_t>& info_offsets,
                             GgufShardContents& out) {
  if (out.tensors.empty()) return absl::OkStatus();
  uint64_t size = c.file().size();
  uint64_t pad = (out.alignment - c.pos() % out.alignment) % out.alignment;
  out.data_start = c.pos() + pad;
  if (out.data_start > size) {
    return c.Error(c.pos(), absl::StrCat("truncated: the data section would start at ",
                                         out.data_start, ", past the end of the file (", size,
                                         " bytes)"));
  }
  uint64_t data_size = size - out.data_start;
  for (size_t i = 0; i < out.tensors.size(); ++i) {
    GgufTensorInfo& t = out.tensors[i];
    uint64_t rel = t.file_offset;
    if (rel > data_size || t.nbytes > data_size - rel) {
      return c.Error(info_offsets[i],
                     absl::StrCat("tensor ", Quoted(t.name), ": data [", out.data_start + rel,
                                  ", +", t.nbytes, ") runs past the end of the file (", size,
                                  " bytes)"));
    }
    t.file_offset = out.data_start + rel;
    t.data = c.file().data() + t.file_offset;
  }
  std::vector<size_t> order(out.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return out.tensors[a].file_offset < out.tensors[b].file_offset;
  });
  // Zero-byte tensors occupy nothing, so only tensors with data can overlap.
  const GgufTensorInfo* furthest = nullptr;  // the tensor whose data ends last so far
  for (size_t k : order) {
    const GgufTensorInfo& cur = out.tensors[k];
    if (cur.nbytes == 0) continue;
    if (furthest != nullptr && furthest->file_offset + furthest->nbytes > cur.file_offset) {
      return c.Error(info_offsets[k],
                     absl::StrCat("tensor ", Quoted(cur.name), ": data at ", cur.file_offset,
                                  " overlaps tensor ", Quoted(furthest->name), " at ",
                                  furthest->file_offset, " (", furthest->nbytes, " bytes)"));
    }
    if (furthest == nullptr ||
        cur.file_offset + cur.nbytes > furthest->file_offset + furthest->nbytes) {
      furthest = &cur;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GgufShardContents> ParseGgufShard(const MappedFile& file, int shard) {
  Cursor c(file);
  GgufShardContents out;
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  HOBBIT_RETURN_IF_ERROR(ReadHeader(c, out, &n_tensors, &n_kv));
  HOBBIT_RETURN_IF_ERROR(ReadMetadata(c, n_kv, out));
  HOBBIT_RETURN_IF_ERROR(ReadAlignment(c, out));
  std::vector<uint64_t> info_offsets;
  HOBBIT_RETURN_IF_ERROR(ReadTensorInfos(c, n_tensors, shard, out, info_offsets));
  HOBBIT_RETURN_IF_ERROR(PlaceTensorData(c, info_offsets, out));
  return out;
}

}  // namespace hobbit::runtime::internal
