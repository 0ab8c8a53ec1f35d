// Cross-check with llama.cpp's gguf-py: reference.gguf was written by gguf.GGUFWriter and
// reference.txt records what gguf.GGUFReader reads from it (make_gguf_reference.py). The hobbit
// reader must describe the file identically, line for line.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"

namespace hobbit::runtime {
namespace {

using T = GgufValueType;

const std::string kDir = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/gguf_reference/";

std::string Hex(const std::string& s) {
  std::string out = "hex:";
  for (unsigned char c : s) absl::StrAppendFormat(&out, "%02x", c);
  return out;
}

std::string F32Bits(double v) {
  float f = static_cast<float>(v);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return absl::StrFormat("%08x", bits);
}

std::string F64Bits(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  return absl::StrFormat("%016x", bits);
}

// Elements of a value in reference.txt's spelling.
std::vector<std::string> Elements(const GgufValue& v) {
  T type = v.array_type();
  std::vector<std::string> out;
  if (type == T::kString) {
    if (!v.is_array()) return {Hex(*v.AsString())};
    for (const std::string& s : *v.AsStringArray()) out.push_back(Hex(s));
  } else if (type == T::kFloat32 || type == T::kFloat64) {
    std::vector<double> values = v.is_array() ? *v.AsDoubleArray()
                                              : std::vector<double>{*v.AsFloat()};
    for (double d : values) out.push_back(type == T::kFloat32 ? F32Bits(d) : F64Bits(d));
  } else if (type == T::kUint64) {
    std::vector<uint64_t> values = v.is_array() ? *v.AsUint64Array()
                                                : std::vector<uint64_t>{*v.AsUint64()};
    for (uint64_t u : values) out.push_back(absl::StrCat(u));
  } else {
    std::vector<int64_t> values = v.is_array() ? *v.AsIntArray() : std::vector<int64_t>{*v.AsInt()};
    for (int64_t i : values) out.push_back(absl::StrCat(i));
  }
  return out;
}

uint64_t Fnv1a64(const uint8_t* data, uint64_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<std::string> Describe(const GgufFile& file) {
  std::vector<std::string> lines = {
      absl::StrCat("version\t", file.version()),
      absl::StrCat("alignment\t", file.alignment()),
      absl::StrCat("tensor_count\t", file.tensors().size()),
      absl::StrCat("kv_count\t", file.metadata().size()),
  };
  for (const auto& [key, value] : file.metadata()) {
    std::string elements = absl::StrJoin(Elements(value), ",");
    if (value.is_array()) {
      lines.push_back(absl::StrCat("kv\t", key, "\tarr\t", GgufValueTypeName(value.array_type()),
                                   "\t", value.array_size(), "\t", elements));
    } else {
      lines.push_back(absl::StrCat("kv\t", key, "\t", GgufValueTypeName(value.type()), "\t",
                                   elements));
    }
  }
  for (const GgufTensorInfo& t : file.tensors()) {
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    lines.push_back(absl::StrCat("tensor\t", t.name, "\t", t.type, "\t", absl::StrJoin(ne, ","),
                                 "\t", t.nbytes, "\t", t.file_offset, "\t",
                                 absl::StrFormat("%016x", Fnv1a64(t.data, t.nbytes))));
  }
  return lines;
}

TEST(GgufReferenceTest, MatchesGgufPy) {
  std::ifstream in(kDir + "reference.txt");
  ASSERT_TRUE(in.good()) << kDir << "reference.txt";
  std::vector<std::string> expected;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) expected.push_back(line);
  }
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(kDir + "reference.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  std::vector<std::string> actual = Describe(**file);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i], expected[i]) << "line " << i + 1;
  }
  EXPECT_GE(expected.size(), 30u);  // the fixture is not trivially empty
}

}  // namespace
}  // namespace hobbit::runtime
