#include "runtime/gguf/gguf_value.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hobbit::runtime {
namespace {

using T = GgufValueType;

constexpr size_t kDebugStringChars = 48;
constexpr size_t kDebugArrayElements = 4;

template <typename Int>
std::vector<int64_t> Widen(const std::vector<Int>& v) {
  return std::vector<int64_t>(v.begin(), v.end());
}

std::string QuoteShort(const std::string& s) {
  if (s.size() <= kDebugStringChars) return absl::StrCat("\"", absl::CHexEscape(s), "\"");
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, kDebugStringChars)), "\"...(",
                      s.size(), " bytes)");
}

}  // namespace

bool IsValidGgufValueType(uint32_t id) { return id <= static_cast<uint32_t>(T::kFloat64); }

std::string GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case T::kUint8: return "u8";
    case T::kInt8: return "i8";
    case T::kUint16: return "u16";
    case T::kInt16: return "i16";
    case T::kUint32: return "u32";
    case T::kInt32: return "i32";
    case T::kFloat32: return "f32";
    case T::kBool: return "bool";
    case T::kString: return "str";
    case T::kArray: return "arr";
    case T::kUint64: return "u64";
    case T::kInt64: return "i64";
    case T::kFloat64: return "f64";
  }
  return absl::StrCat("type#", static_cast<uint32_t>(type));
}

int GgufValueTypeSize(GgufValueType type) {
  switch (type) {
    case T::kUint8: case T::kInt8: case T::kBool: return 1;
    case T::kUint16: case T::kInt16: return 2;
    case T::kUint32: case T::kInt32: case T::kFloat32: return 4;
    case T::kUint64: case T::kInt64: case T::kFloat64: return 8;
    case T::kString: case T::kArray: return 0;
  }
  return 0;
}

bool IsGgufIntegerType(GgufValueType type) {
  switch (type) {
    case T::kUint8: case T::kInt8: case T::kUint16: case T::kInt16:
    case T::kUint32: case T::kInt32: case T::kUint64: case T::kInt64:
      return true;
    default:
      return false;
  }
}

GgufValue GgufValue::Uint8(uint8_t v) { return GgufValue(T::kUint8, T::kUint8, int64_t{v}); }
GgufValue GgufValue::Int8(int8_t v) { return GgufValue(T::kInt8, T::kInt8, int64_t{v}); }
GgufValue GgufValue::Uint16(uint16_t v) { return GgufValue(T::kUint16, T::kUint16, int64_t{v}); }
GgufValue GgufValue::Int16(int16_t v) { return GgufValue(T::kInt16, T::kInt16, int64_t{v}); }
GgufValue GgufValue::Uint32(uint32_t v) { return GgufValue(T::kUint32, T::kUint32, int64_t{v}); }
GgufValue GgufValue::Int32(int32_t v) { return GgufValue(T::kInt32, T::kInt32, int64_t{v}); }
GgufValue GgufValue::Uint64(uint64_t v) { return GgufValue(T::kUint64, T::kUint64, v); }
GgufValue GgufValue::Int64(int64_t v) { return GgufValue(T::kInt64, T::kInt64, v); }
GgufValue GgufValue::Float32(float v) {
  return GgufValue(T::kFloat32, T::kFloat32, static_cast<double>(v));
}
GgufValue GgufValue::Float64(double v) { return GgufValue(T::kFloat64, T::kFloat64, v); }
GgufValue GgufValue::Bool(bool v) { return GgufValue(T::kBool, T::kBool, int64_t{v ? 1 : 0}); }
GgufValue GgufValue::String(std::string v) {
  return GgufValue(T::kString, T::kString, std::move(v));
}
GgufValue GgufValue::Integer(GgufValueType type, int64_t v) {
  if (type == T::kBool) return Bool(v != 0);
  if (!IsGgufIntegerType(type)) type = T::kInt64;  // keeps type and storage consistent
  if (type == T::kUint64) return Uint64(static_cast<uint64_t>(v));
  return GgufValue(type, type, v);
}

GgufValue GgufValue::Uint8Array(const std::vector<uint8_t>& v) {
  return GgufValue(T::kArray, T::kUint8, Widen(v));
}
GgufValue GgufValue::Int8Array(const std::vector<int8_t>& v) {
  return GgufValue(T::kArray, T::kInt8, Widen(v));
}
GgufValue GgufValue::Uint16Array(const std::vector<uint16_t>& v) {
  return GgufValue(T::kArray, T::kUint16, Widen(v));
}
GgufValue GgufValue::Int16Array(const std::vector<int16_t>& v) {
  return GgufValue(T::kArray, T::kInt16, Widen(v));
}
GgufValue GgufValue::Uint32Array(const std::vector<uint32_t>& v) {
  return GgufValue(T::kArray, T::kUint32, Widen(v));
}
GgufValue GgufValue::Int32Array(const std::vector<int32_t>& v) {
  return GgufValue(T::kArray, T::kInt32, Widen(v));
}
GgufValue GgufValue::Uint64Array(std::vector<uint64_t> v) {
  return GgufValue(T::kArray, T::kUint64, std::move(v));
}
GgufValue GgufValue::Int64Array(std::vector<int64_t> v) {
  return GgufValue(T::kArray, T::kInt64, std::move(v));
}
GgufValue GgufValue::Float32Array(std::vector<float> v) {
  return GgufValue(T::kArray, T::kFloat32, std::move(v));
}
GgufValue GgufValue::Float64Array(std::vector<double> v) {
  return GgufValue(T::kArray, T::kFloat64, std::move(v));
}
GgufValue GgufValue::BoolArray(const std::vector<bool>& v) {
  return GgufValue(T::kArray, T::kBool, std::vector<int64_t>(v.begin(), v.end()));
}
GgufValue GgufValue::StringArray(std::vector<std::string> v) {
  return GgufValue(T::kArray, T::kString, std::move(v));
}
GgufValue GgufValue::IntegerArray(GgufValueType element_type, std::vector<int64_t> v) {
  if (!IsGgufIntegerType(element_type) && element_type != T::kBool) element_type = T::kInt64;
  if (element_type == T::kUint64) {
    return Uint64Array(std::vector<uint64_t>(v.begin(), v.end()));
  }
  return GgufValue(T::kArray, element_type, std::move(v));
}

size_t GgufValue::array_size() const {
  if (!is_array()) return 0;
  return std::visit(
      [](const auto& s) -> size_t {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, int64_t> || std::is_same_v<S, uint64_t> ||
                      std::is_same_v<S, double> || std::is_same_v<S, std::string>) {
          return 0;
        } else {
          return s.size();
        }
      },
      storage_);
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (is_array()) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(&storage_)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&storage_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<uint64_t> GgufValue::AsUint64() const {
  if (const auto* u = std::get_if<uint64_t>(&storage_); u && !is_array()) return *u;
  std::optional<int64_t> i = AsInt();
  if (!i || *i < 0) return std::nullopt;
  return static_cast<uint64_t>(*i);
}

std::optional<double> GgufValue::AsFloat() const {
  if (is_array() || type_ == T::kBool) return std::nullopt;
  if (const auto* d = std::get_if<double>(&storage_)) return *d;
  if (const auto* i = std::get_if<int64_t>(&storage_)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&storage_)) return static_cast<double>(*u);
  return std::nullopt;
}

std::optional<bool> GgufValue::AsBool() const {
  const auto* b = std::get_if<int64_t>(&storage_);
  if (type_ != T::kBool || b == nullptr) return std::nullopt;
  return *b != 0;
}

const std::string* GgufValue::AsString() const {
  return std::get_if<std::string>(&storage_);
}

std::optional<std::vector<int64_t>> GgufValue::AsIntArray() const {
  if (!is_array()) return std::nullopt;
  if (const auto* i = std::get_if<std::vector<int64_t>>(&storage_)) return *i;
  if (const auto* u = std::get_if<std::vector<uint64_t>>(&storage_)) {
    std::vector<int64_t> out;
    out.reserve(u->size());
    for (uint64_t x : *u) {
      if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
      out.push_back(static_cast<int64_t>(x));
    }
    return out;
  }
  return std::nullopt;
}

std::optional<std::vector<float>> GgufValue::AsFloatArray() const {
  if (!is_array() || array_type_ == T::kBool) return std::nullopt;
  return std::visit(
      [](const auto& s) -> std::optional<std::vector<float>> {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, std::vector<int64_t>> ||
                      std::is_same_v<S, std::vector<uint64_t>> ||
                      std::is_same_v<S, std::vector<double>>) {
          return std::vector<float>(s.begin(), s.end());
        } else if constexpr (std::is_same_v<S, std::vector<float>>) {
          return s;
        } else {
          return std::nullopt;
        }
      },
      storage_);
}

std::optional<std::vector<double>> GgufValue::AsDoubleArray() const {
  if (!is_array() || array_type_ == T::kBool) return std::nullopt;
  return std::visit(
      [](const auto& s) -> std::optional<std::vector<double>> {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, std::vector<int64_t>> ||
                      std::is_same_v<S, std::vector<uint64_t>> ||
                      std::is_same_v<S, std::vector<float>>) {
          return std::vector<double>(s.begin(), s.end());
        } else if constexpr (std::is_same_v<S, std::vector<double>>) {
          return s;
        } else {
          return std::nullopt;
        }
      },
      storage_);
}

const std::vector<uint64_t>* GgufValue::AsUint64Array() const {
  if (!is_array()) return nullptr;
  return std::get_if<std::vector<uint64_t>>(&storage_);
}

const std::vector<std::string>* GgufValue::AsStringArray() const {
  if (!is_array()) return nullptr;
  return std::get_if<std::vector<std::string>>(&storage_);
}

std::string GgufValue::ScalarDebugString() const {
  std::string prefix = GgufValueTypeName(type_) + " ";
  if (type_ == T::kBool) return prefix + (*AsBool() ? "true" : "false");
  if (const std::string* s = AsString()) return prefix + QuoteShort(*s);
  if (const auto* u = std::get_if<uint64_t>(&storage_)) return absl::StrCat(prefix, *u);
  if (const auto* i = std::get_if<int64_t>(&storage_)) return absl::StrCat(prefix, *i);
  if (const auto* d = std::get_if<double>(&storage_)) {
    return absl::StrCat(prefix, absl::StrFormat("%.9g", *d));
  }
  return prefix;
}

std::string GgufValue::ArrayDebugString() const {
  size_t n = array_size();
  std::string out = absl::StrCat("arr[", GgufValueTypeName(array_type_), ",", n, "] [");
  for (size_t i = 0; i < n && i < kDebugArrayElements; ++i) {
    if (i > 0) out += ", ";
    std::visit(
        [&](const auto& s) {
          using S = std::decay_t<decltype(s)>;
          if constexpr (std::is_same_v<S, std::vector<std::string>>) {
            out += QuoteShort(s[i]);
          } else if constexpr (std::is_same_v<S, std::vector<float>> ||
                               std::is_same_v<S, std::vector<double>>) {
            out += absl::StrFormat("%.9g", static_cast<double>(s[i]));
          } else if constexpr (std::is_same_v<S, std::vector<int64_t>> ||
                               std::is_same_v<S, std::vector<uint64_t>>) {
            if (array_type_ == T::kBool) {
              out += s[i] != 0 ? "true" : "false";
            } else {
              absl::StrAppend(&out, s[i]);
            }
          }
        },
        storage_);
  }
  if (n > kDebugArrayElements) out += ", ...";
  return out + "]";
}

std::string GgufValue::DebugString() const {
  return is_array() ? ArrayDebugString() : ScalarDebugString();
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && array_type_ == other.array_type_ && storage_ == other.storage_;
}

}  // namespace hobbit::runtime
