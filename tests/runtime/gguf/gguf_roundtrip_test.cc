// Writer -> reader round trips, typed getters, alignment, versions, and files on disk.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/gguf/gguf_writer.h"
#include "tests/runtime/gguf/sample_gguf.h"

namespace hobbit::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint32_t kF32 = static_cast<uint32_t>(kernels::GgmlType::kF32);

std::unique_ptr<GgufFile> OpenBytes(const GgufWriter& writer) {
  absl::StatusOr<std::vector<uint8_t>> bytes = writer.WriteToBytes();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(*std::move(bytes));
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : nullptr;
}

void ExpectSampleTensors(const GgufFile& file, uint64_t alignment) {
  std::vector<SampleTensor> expected = SampleGguf::Tensors();
  ASSERT_EQ(file.tensors().size(), expected.size());
  uint64_t running = file.tensors()[0].file_offset;
  for (size_t i = 0; i < expected.size(); ++i) {
    const GgufTensorInfo& t = file.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, expected[i].name);
    EXPECT_EQ(t.type, expected[i].type);
    EXPECT_EQ(t.n_dims, static_cast<int>(expected[i].ne.size()));
    for (int d = 0; d < 4; ++d) {
      int64_t want = d < t.n_dims ? expected[i].ne[static_cast<size_t>(d)] : 1;
      EXPECT_EQ(t.ne[static_cast<size_t>(d)], want);
    }
    ASSERT_EQ(t.nbytes, expected[i].bytes.size());
    EXPECT_EQ(0, std::memcmp(t.data, expected[i].bytes.data(), t.nbytes));
    EXPECT_EQ(t.file_offset % alignment, 0u);
    // The writer's strict layout: each offset is the running sum of padded sizes.
    EXPECT_EQ(t.file_offset, running);
    running += (t.nbytes + alignment - 1) / alignment * alignment;
    EXPECT_EQ(file.FindTensor(t.name), &t);
  }
  EXPECT_EQ(file.FindTensor("missing.weight"), nullptr);
}

TEST(GgufRoundTripTest, EveryValueTypeRoundTripsInOrder) {
  std::unique_ptr<GgufFile> file = OpenBytes(SampleGguf::MakeWriter());
  ASSERT_NE(file, nullptr);
  auto expected = SampleGguf::Metadata();
  ASSERT_EQ(file->metadata().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].first);
    EXPECT_EQ(file->metadata()[i].first, expected[i].first);
    EXPECT_TRUE(file->metadata()[i].second == expected[i].second)
        << file->metadata()[i].second.DebugString() << " vs " << expected[i].second.DebugString();
    EXPECT_EQ(file->Find(expected[i].first), &file->metadata()[i].second);
  }
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->Find("general.alignment"), nullptr);
  ExpectSampleTensors(*file, 32);
}

TEST(GgufRoundTripTest, TypedGettersAcceptEveryIntegerWidth) {
  std::unique_ptr<GgufFile> file = OpenBytes(SampleGguf::MakeWriter());
  ASSERT_NE(file, nullptr);
  for (const char* key : {"test.u8", "test.i8", "test.u16", "test.i16", "test.u32", "test.i32",
                          "test.i64", "test.bool"}) {
    EXPECT_TRUE(file->GetInt(key).ok()) << key;
  }
  EXPECT_EQ(*file->GetInt("test.u8"), 255);
  EXPECT_EQ(*file->GetInt("test.i16"), -32768);
  EXPECT_EQ(*file->GetInt("test.u32"), 4294967295);
  EXPECT_EQ(*file->GetInt("llama.block_count"), 2);
  EXPECT_EQ(*file->GetFloat("test.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(*file->GetFloat("test.u16"), 65535.0);
  EXPECT_EQ(*file->GetBool("test.bool"), true);
  EXPECT_EQ(*file->GetString("general.architecture"), "llama");
  EXPECT_EQ(file->GetString("test.str")->size(), 15u);
}

TEST(GgufRoundTripTest, TypedGettersNameKeyAndTypes) {
  std::unique_ptr<GgufFile> file = OpenBytes(SampleGguf::MakeWriter());
  ASSERT_NE(file, nullptr);
  absl::Status s = file->GetInt("llama.missing").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("'llama.missing'"));
  s = file->GetInt("general.architecture").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'general.architecture' has type str, expected an integer"));
  s = file->GetInt("test.u64").status();
  EXPECT_THAT(s.message(), HasSubstr("exceeds INT64_MAX"));
  s = file->GetString("llama.block_count").status();
  EXPECT_THAT(s.message(), HasSubstr("'llama.block_count' has type u32, expected str"));
  s = file->GetBool("test.u8").status();
  EXPECT_THAT(s.message(), HasSubstr("has type u8, expected bool"));
  s = file->GetFloat("test.arr_f32").status();
  EXPECT_THAT(s.message(), HasSubstr("has type array of f32, expected a float"));
}

TEST(GgufRoundTripTest, PerLayerKeys) {
  std::unique_ptr<GgufFile> file = OpenBytes(SampleGguf::MakeWriter());
  ASSERT_NE(file, nullptr);
  EXPECT_THAT(*file->GetPerLayerInt("llama.attention.head_count", 2), ElementsAre(4, 8));
  EXPECT_THAT(*file->GetPerLayerInt("llama.attention.head_count_kv", 2), ElementsAre(2, 2));
  EXPECT_THAT(*file->GetPerLayerInt("llama.feed_forward_length", 2), ElementsAre(128, 256));
  absl::Status s = file->GetPerLayerInt("llama.attention.head_count", 3).status();
  EXPECT_THAT(s.message(), HasSubstr("has 2 per-layer values, expected 3"));
  s = file->GetPerLayerInt("test.arr_str", 3).status();
  EXPECT_THAT(s.message(), HasSubstr("'test.arr_str' has type array of str"));
  s = file->GetPerLayerInt("test.arr_u64", 1).status();
  EXPECT_FALSE(s.ok());
  s = file->GetPerLayerInt("llama.attention.head_count_kv", int64_t{1} << 40).status();
  EXPECT_THAT(s.message(), HasSubstr("layer count"));
  EXPECT_EQ(file->GetPerLayerInt("nope", 2).status().code(), absl::StatusCode::kNotFound);
}

class GgufVersionAlignmentTest
    : public ::testing::TestWithParam<std::tuple<uint32_t, uint64_t>> {};

TEST_P(GgufVersionAlignmentTest, RoundTrips) {
  auto [version, alignment] = GetParam();
  std::unique_ptr<GgufFile> file = OpenBytes(SampleGguf::MakeWriter(version, alignment));
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->version(), version);
  EXPECT_EQ(file->alignment(), alignment);
  const GgufValue* a = file->Find("general.alignment");
  if (alignment == 32) {
    EXPECT_EQ(a, nullptr);
  } else {
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->type(), GgufValueType::kUint32);
    EXPECT_EQ(a->AsInt(), static_cast<int64_t>(alignment));
  }
  ExpectSampleTensors(*file, alignment);
}

INSTANTIATE_TEST_SUITE_P(All, GgufVersionAlignmentTest,
                         ::testing::Combine(::testing::Values(2u, 3u),
                                            ::testing::Values(1u, 8u, 16u, 32u, 64u, 4096u)));

TEST(GgufRoundTripTest, FileOnDiskIsMappedAndMatchesBytes) {
  GgufWriter writer = SampleGguf::MakeWriter(3, 64);
  std::string path = ::testing::TempDir() + "/gguf_roundtrip_disk.gguf";
  ASSERT_TRUE(writer.WriteToFile(path).ok());
  absl::StatusOr<std::vector<uint8_t>> bytes = writer.WriteToBytes();
  ASSERT_TRUE(bytes.ok());
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> on_disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(on_disk, *bytes);

  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->path(), path);
  EXPECT_EQ((*file)->n_shards(), 1);
  EXPECT_EQ((*file)->total_bytes(), bytes->size());
  ExpectSampleTensors(**file, 64);
  for (const GgufTensorInfo& t : (*file)->tensors()) EXPECT_EQ(t.shard, 0);
  std::remove(path.c_str());
}

TEST(GgufRoundTripTest, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open("/nonexistent/model.gguf");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr("/nonexistent/model.gguf"));
}

TEST(GgufRoundTripTest, HeaderOnlyFileOpens) {
  GgufWriter writer;
  std::unique_ptr<GgufFile> file = OpenBytes(writer);
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->metadata().empty());
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_EQ(file->total_bytes(), 24u);
}

TEST(GgufRoundTripTest, LargeTokenizerArrays) {
  GgufWriter writer;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  for (int i = 0; i < 150000; ++i) {
    tokens.push_back("tok" + std::to_string(i));
    scores.push_back(static_cast<float>(-i));
  }
  writer.Set("tokenizer.ggml.tokens", GgufValue::StringArray(tokens));
  writer.Set("tokenizer.ggml.scores", GgufValue::Float32Array(scores));
  std::unique_ptr<GgufFile> file = OpenBytes(writer);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(*file->Find("tokenizer.ggml.tokens")->AsStringArray(), tokens);
  EXPECT_EQ(*file->Find("tokenizer.ggml.scores")->AsFloatArray(), scores);
}

TEST(GgufRoundTripTest, SetReplacesInPlace) {
  GgufWriter writer;
  writer.Set("a", GgufValue::Uint32(1));
  writer.Set("b", GgufValue::Uint32(2));
  writer.Set("a", GgufValue::String("x"));
  std::unique_ptr<GgufFile> file = OpenBytes(writer);
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(file->metadata().size(), 2u);
  EXPECT_EQ(file->metadata()[0].first, "a");
  EXPECT_EQ(*file->GetString("a"), "x");
}

TEST(GgufWriterTest, RejectsBadTensorsAndOptions) {
  GgufWriter writer;
  std::vector<uint8_t> b32(32);
  EXPECT_TRUE(writer.AddTensor("a", kF32, {8}, b32).ok());
  EXPECT_THAT(writer.AddTensor("a", kF32, {8}, b32).message(), HasSubstr("duplicate"));
  EXPECT_THAT(writer.AddTensor(std::string(64, 'n'), kF32, {8}, b32).message(),
              HasSubstr("name must be 1 to 63 bytes"));
  EXPECT_THAT(writer.AddTensor("b", kF32, {9}, b32).message(),
              HasSubstr("has 32 bytes, its type and dims need 36"));
  EXPECT_THAT(writer.AddTensor("b", 4, {8}, b32).message(), HasSubstr("unknown ggml type"));
  EXPECT_THAT(writer.AddTensor("b", 2, {16}, b32).message(), HasSubstr("block size 32"));
  EXPECT_THAT(writer.AddTensor("b", kF32, {8, 1, 1, 1, 1}, b32).message(), HasSubstr("5 dims"));
  EXPECT_THAT(writer.AddTensor("b", kF32, {-8}, b32).message(), HasSubstr("negative"));
  EXPECT_THAT(writer.AddTensor("b", kF32, {int64_t{1} << 62, 4}, b32).message(),
              HasSubstr("overflow"));
  EXPECT_THAT(writer.AddTensorView("b", kF32, {8}, nullptr, 32).message(), HasSubstr("null"));

  EXPECT_THAT(GgufWriter(1).WriteToBytes().status().message(), HasSubstr("version 1"));
  EXPECT_THAT(GgufWriter(4).WriteToBytes().status().message(), HasSubstr("version 4"));
  EXPECT_THAT(GgufWriter(3, 24).WriteToBytes().status().message(), HasSubstr("power of two"));
  GgufWriter mismatch(3, 64);
  mismatch.Set("general.alignment", GgufValue::Uint32(32));
  EXPECT_THAT(mismatch.WriteToBytes().status().message(), HasSubstr("general.alignment"));
  GgufWriter matching(3, 64);
  matching.Set("general.alignment", GgufValue::Uint32(64));
  EXPECT_TRUE(matching.WriteToBytes().ok());
  EXPECT_FALSE(writer.WriteToFile("/nonexistent/dir/x.gguf").ok());
}

TEST(GgufWriterTest, TensorViewsAreNotCopied) {
  std::vector<uint8_t> data(64, 0x11);
  GgufWriter writer;
  ASSERT_TRUE(writer.AddTensorView("v", kF32, {16}, data.data(), data.size()).ok());
  data[0] = 0x22;  // the writer reads the caller's bytes at write time
  std::unique_ptr<GgufFile> file = OpenBytes(writer);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->FindTensor("v")->data[0], 0x22);
  EXPECT_EQ(file->FindTensor("v")->data[1], 0x11);
}

// Bytes of a GGUF built field by field, for layouts the writer never emits.
class RawGguf {
 public:
  RawGguf& U32(uint32_t v) { return Put(&v, 4); }
  RawGguf& U64(uint64_t v) { return Put(&v, 8); }
  RawGguf& Str(const std::string& s) {
    U64(s.size());
    return Put(s.data(), s.size());
  }
  RawGguf& PadTo(uint64_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    return *this;
  }
  RawGguf& Fill(size_t n, uint8_t v) {
    bytes_.insert(bytes_.end(), n, v);
    return *this;
  }
  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  RawGguf& Put(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

TEST(GgufReaderTest, AcceptsAnyAlignedInBoundsOrderWithHoles) {
  RawGguf raw;
  raw.U32(0x46554747).U32(3).U64(2).U64(0);
  raw.Str("a").U32(1).U64(8).U32(kF32).U64(96);  // a after a hole, listed first
  raw.Str("b").U32(1).U64(8).U32(kF32).U64(0);
  raw.PadTo(32).Fill(32, 0xbb).Fill(64, 0).Fill(32, 0xaa);
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(raw.Take());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->FindTensor("a")->data[0], 0xaa);
  EXPECT_EQ((*file)->FindTensor("b")->data[31], 0xbb);
  EXPECT_EQ((*file)->FindTensor("a")->file_offset - (*file)->FindTensor("b")->file_offset, 96u);
}

TEST(GgufReaderTest, ZeroSizedTensorsMayShareOffsets) {
  RawGguf raw;
  raw.U32(0x46554747).U32(3).U64(3).U64(0);
  raw.Str("empty0").U32(2).U64(0).U64(4).U32(kF32).U64(0);
  raw.Str("full").U32(1).U64(8).U32(kF32).U64(0);
  raw.Str("empty1").U32(1).U64(0).U32(kF32).U64(32);
  raw.PadTo(32).Fill(32, 1);
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(raw.Take());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->FindTensor("empty0")->n_elements(), 0);
  EXPECT_EQ((*file)->FindTensor("empty1")->nbytes, 0u);
}

TEST(GgufReaderTest, OverlapAcrossAZeroSizedTensorIsFound) {
  // A zero-sized tensor sorted between a and c must not hide c's overlap with a.
  RawGguf raw;
  raw.U32(0x46554747).U32(3).U64(3).U64(0);
  raw.Str("a").U32(1).U64(32).U32(kF32).U64(0);  // [0, 128)
  raw.Str("e").U32(1).U64(0).U32(kF32).U64(64);  // empty, at 64
  raw.Str("c").U32(1).U64(8).U32(kF32).U64(96);  // [96, 128)
  raw.PadTo(32).Fill(128, 0);
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(raw.Take(), "x.gguf");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("tensor 'c': data at"));
  EXPECT_THAT(file.status().message(), HasSubstr("overlaps tensor 'a'"));
  EXPECT_THAT(file.status().message(), HasSubstr("x.gguf: offset "));
}

}  // namespace
}  // namespace hobbit::runtime
