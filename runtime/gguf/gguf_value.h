// GgufValue: one typed GGUF metadata value (a scalar, a string, or an array of one element type).
//
//   const GgufValue* v = file.Find("llama.block_count");
//   std::optional<int64_t> n = v ? v->AsInt() : std::nullopt;   // any integer width
//   GgufValue tokens = GgufValue::StringArray({"<unk>", "<s>"}); // for GgufWriter::Set
//
// Accessors convert between compatible types (every integer width reads as int64; integers read
// as floats) and return nullopt/nullptr for incompatible ones, so callers decide the error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace hobbit::runtime {

// Value type ids as stored in the file (formats.md §1.2).
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// True for the ids 0..12 above.
bool IsValidGgufValueType(uint32_t id);
// Short name for messages: "u8", "i32", "f32", "bool", "str", "arr", ... or "type#N".
std::string GgufValueTypeName(GgufValueType type);
// Bytes of one scalar element in the file; 0 for kString and kArray (variable size).
int GgufValueTypeSize(GgufValueType type);
// True for the eight integer types (not bool).
bool IsGgufIntegerType(GgufValueType type);

// A value type. Copyable; immutable once built. Arrays hold elements of one scalar or string
// type (no nested arrays, as ggml rejects them).
class GgufValue {
 public:
  GgufValue() = default;  // an empty uint8 array; only useful as a placeholder

  // Scalars.
  static GgufValue Uint8(uint8_t v);
  static GgufValue Int8(int8_t v);
  static GgufValue Uint16(uint16_t v);
  static GgufValue Int16(int16_t v);
  static GgufValue Uint32(uint32_t v);
  static GgufValue Int32(int32_t v);
  static GgufValue Uint64(uint64_t v);
  static GgufValue Int64(int64_t v);
  static GgufValue Float32(float v);
  static GgufValue Float64(double v);
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  // An integer of any integer type (kBool gives a bool; any other type is taken as kInt64).
  // REQUIRES: v fits in `type`; the writer truncates it otherwise.
  static GgufValue Integer(GgufValueType type, int64_t v);

  // Arrays.
  static GgufValue Uint8Array(const std::vector<uint8_t>& v);
  static GgufValue Int8Array(const std::vector<int8_t>& v);
  static GgufValue Uint16Array(const std::vector<uint16_t>& v);
  static GgufValue Int16Array(const std::vector<int16_t>& v);
  static GgufValue Uint32Array(const std::vector<uint32_t>& v);
  static GgufValue Int32Array(const std::vector<int32_t>& v);
  static GgufValue Uint64Array(std::vector<uint64_t> v);
  static GgufValue Int64Array(std::vector<int64_t> v);
  static GgufValue Float32Array(std::vector<float> v);
  static GgufValue Float64Array(std::vector<double> v);
  static GgufValue BoolArray(const std::vector<bool>& v);
  static GgufValue StringArray(std::vector<std::string> v);
  // An array of any integer (or bool) element type; any other type is taken as kInt64.
  // REQUIRES: every element fits in `element_type`; the writer truncates it otherwise.
  static GgufValue IntegerArray(GgufValueType element_type, std::vector<int64_t> v);

  GgufValueType type() const { return type_; }
  // The element type of an array; for scalars, the same as type().
  GgufValueType array_type() const { return array_type_; }
  // Elements of an array; 0 for scalars.
  size_t array_size() const;
  bool is_array() const { return type_ == GgufValueType::kArray; }

  // Any integer type or bool; nullopt if not an integer or a uint64 above INT64_MAX.
  std::optional<int64_t> AsInt() const;
  // The exact value of a kUint64 scalar (or any non-negative integer); nullopt otherwise.
  std::optional<uint64_t> AsUint64() const;
  // float32/float64, and integers converted to double.
  std::optional<double> AsFloat() const;
  std::optional<bool> AsBool() const;  // kBool only
  const std::string* AsString() const;  // nullptr unless kString

  // Arrays of integers (and bools); nullopt if not such an array or a uint64 is above INT64_MAX.
  std::optional<std::vector<int64_t>> AsIntArray() const;
  // Arrays of float32/float64 (converted to float), and of integers.
  std::optional<std::vector<float>> AsFloatArray() const;
  // Exact element access for float64 arrays (float32 arrays are widened).
  std::optional<std::vector<double>> AsDoubleArray() const;
  // The exact elements of a uint64 array.
  const std::vector<uint64_t>* AsUint64Array() const;
  const std::vector<std::string>* AsStringArray() const;

  // Short description for `hobbit-tool info`: "u32 32", "str \"llama\"",
  // "arr[str,32000] [\"<unk>\", \"<s>\", ...]". Long strings and arrays are elided.
  std::string DebugString() const;

  // Value equality: same type and elements (floats compare with ==, so NaN != NaN).
  bool operator==(const GgufValue& other) const;

 private:
  // Integer scalars and bool live in int64_t, except uint64 (uint64_t); floats in double.
  // Integer/bool arrays live in vector<int64_t>, except uint64 arrays (vector<uint64_t>).
  using Storage = std::variant<int64_t, uint64_t, double, std::string, std::vector<int64_t>,
                               std::vector<uint64_t>, std::vector<float>, std::vector<double>,
                               std::vector<std::string>>;

  // Builds the variant in place from the alternative itself (moving a whole Storage trips a
  // GCC 12 -Wmaybe-uninitialized false positive under sanitizers).
  template <typename V>
  GgufValue(GgufValueType type, GgufValueType array_type, V&& v)
      : type_(type), array_type_(array_type), storage_(std::forward<V>(v)) {}

  std::string ScalarDebugString() const;
  std::string ArrayDebugString() const;

  GgufValueType type_ = GgufValueType::kArray;
  GgufValueType array_type_ = GgufValueType::kUint8;
  Storage storage_ = std::vector<int64_t>{};
};

}  // namespace hobbit::runtime
