// Split models: GgufWriter::WriteSplit and GgufFile::Open of NAME-00001-of-0000N.gguf.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/gguf/gguf_writer.h"
#include "runtime/gguf/internal/gguf_parser.h"
#include "runtime/gguf/internal/mapped_file.h"
#include "tests/runtime/gguf/sample_gguf.h"

namespace hobbit::runtime {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kF32 = static_cast<uint32_t>(kernels::GgmlType::kF32);

std::string TempPrefix(const std::string& name) {
  return ::testing::TempDir() + "/gguf_split_" + name;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_size);
}

void RemoveShards(const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) std::remove(GgufWriter::ShardPath(prefix, i, n).c_str());
}

TEST(GgufSplitTest, ShardPathFollowsLlamaCppScheme) {
  EXPECT_EQ(GgufWriter::ShardPath("/m/model", 0, 3), "/m/model-00001-of-00003.gguf");
  EXPECT_EQ(GgufWriter::ShardPath("m", 11, 12), "m-00012-of-00012.gguf");
}

TEST(GgufSplitTest, WriteSplitThenOpenFirstShardSeesEverything) {
  for (uint64_t alignment : {32u, 64u}) {
    SCOPED_TRACE(alignment);
    std::string prefix = TempPrefix("three");
    GgufWriter writer = SampleGguf::MakeWriter(3, alignment);
    ASSERT_TRUE(writer.WriteSplit(prefix, 3).ok());
    std::string first = GgufWriter::ShardPath(prefix, 0, 3);
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(first);
    ASSERT_TRUE(file.ok()) << file.status();
    const GgufFile& f = **file;
    EXPECT_EQ(f.n_shards(), 3);
    EXPECT_EQ(f.path(), first);
    EXPECT_EQ(f.alignment(), alignment);
    uint64_t total = 0;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(f.shard_paths()[static_cast<size_t>(i)], GgufWriter::ShardPath(prefix, i, 3));
      total += FileSize(GgufWriter::ShardPath(prefix, i, 3));
    }
    EXPECT_EQ(f.total_bytes(), total);

    std::vector<SampleTensor> expected = SampleGguf::Tensors();
    ASSERT_EQ(f.tensors().size(), expected.size());
    const int expected_shard[] = {0, 1, 1, 2, 2};  // 5 tensors in 3 runs of nearly equal count
    for (size_t i = 0; i < expected.size(); ++i) {
      const GgufTensorInfo* t = f.FindTensor(expected[i].name);
      ASSERT_NE(t, nullptr) << expected[i].name;
      EXPECT_EQ(t->shard, expected_shard[i]) << t->name;
      ASSERT_EQ(t->nbytes, expected[i].bytes.size());
      EXPECT_EQ(0, std::memcmp(t->data, expected[i].bytes.data(), t->nbytes)) << t->name;
      EXPECT_EQ(t->file_offset % alignment, 0u);
    }
    // Shard 1 carries all metadata plus the split keys, as gguf-py writes them.
    for (const auto& [key, value] : SampleGguf::Metadata()) {
      ASSERT_NE(f.Find(key), nullptr) << key;
      EXPECT_TRUE(*f.Find(key) == value) << key;
    }
    EXPECT_EQ(f.Find("split.no")->type(), GgufValueType::kUint16);
    EXPECT_EQ(*f.GetInt("split.no"), 0);
    EXPECT_EQ(f.Find("split.count")->type(), GgufValueType::kUint16);
    EXPECT_EQ(*f.GetInt("split.count"), 3);
    EXPECT_EQ(f.Find("split.tensors.count")->type(), GgufValueType::kInt32);
    EXPECT_EQ(*f.GetInt("split.tensors.count"), 5);
    RemoveShards(prefix, 3);
  }
}

TEST(GgufSplitTest, LaterShardsCarryOnlySplitKeys) {
  std::string prefix = TempPrefix("keys");
  ASSERT_TRUE(SampleGguf::MakeWriter().WriteSplit(prefix, 2).ok());
  std::string second = GgufWriter::ShardPath(prefix, 1, 2);
  absl::StatusOr<std::unique_ptr<internal::MappedFile>> mapped = internal::MappedFile::Open(second);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  absl::StatusOr<internal::GgufShardContents> shard = internal::ParseGgufShard(**mapped, 1);
  ASSERT_TRUE(shard.ok()) << shard.status();
  ASSERT_EQ(shard->metadata.size(), 3u);
  EXPECT_EQ(shard->metadata[0].first, "split.no");
  EXPECT_EQ(shard->metadata[0].second, GgufValue::Uint16(1));
  EXPECT_EQ(shard->metadata[1].first, "split.count");
  EXPECT_EQ(shard->metadata[1].second, GgufValue::Uint16(2));
  EXPECT_EQ(shard->metadata[2].first, "split.tensors.count");
  EXPECT_EQ(shard->metadata[2].second, GgufValue::Int32(5));
  EXPECT_EQ(shard->tensors.size(), 3u);

  // Naming a later shard is an error that names the first one.
  absl::StatusOr<std::unique_ptr<GgufFile>> alone = GgufFile::Open(second);
  EXPECT_FALSE(alone.ok());
  EXPECT_THAT(alone.status().message(), HasSubstr("is shard 2 of 2"));
  EXPECT_THAT(alone.status().message(), HasSubstr(GgufWriter::ShardPath(prefix, 0, 2)));
  RemoveShards(prefix, 2);
}

TEST(GgufSplitTest, MissingShardIsNamed) {
  std::string prefix = TempPrefix("missing");
  ASSERT_TRUE(SampleGguf::MakeWriter().WriteSplit(prefix, 3).ok());
  std::string third = GgufWriter::ShardPath(prefix, 2, 3);
  std::remove(third.c_str());
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::Open(GgufWriter::ShardPath(prefix, 0, 3));
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr("shard 3 of 3"));
  EXPECT_THAT(file.status().message(), HasSubstr(third));
  RemoveShards(prefix, 3);
}

TEST(GgufSplitTest, FirstShardUnderAPlainNameIsRejected) {
  std::string prefix = TempPrefix("plain");
  ASSERT_TRUE(SampleGguf::MakeWriter().WriteSplit(prefix, 2).ok());
  std::string plain = prefix + "_renamed.gguf";
  ASSERT_EQ(std::rename(GgufWriter::ShardPath(prefix, 0, 2).c_str(), plain.c_str()), 0);
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(plain);
  EXPECT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("split.count is u16 2 but 1 file was opened"));
  std::remove(plain.c_str());
  RemoveShards(prefix, 2);
}

TEST(GgufSplitTest, SingleShardSplit) {
  std::string prefix = TempPrefix("one");
  ASSERT_TRUE(SampleGguf::MakeWriter().WriteSplit(prefix, 1).ok());
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::Open(GgufWriter::ShardPath(prefix, 0, 1));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 5u);
  EXPECT_EQ(*(*file)->GetInt("split.count"), 1);
  RemoveShards(prefix, 1);
}

TEST(GgufSplitTest, DuplicateTensorAcrossShardsIsRejected) {
  std::string prefix = TempPrefix("dup");
  for (int i = 0; i < 2; ++i) {
    GgufWriter w;
    ASSERT_TRUE(w.AddTensor("same.weight", kF32, {8}, std::vector<uint8_t>(32)).ok());
    ASSERT_TRUE(w.WriteToFile(GgufWriter::ShardPath(prefix, i, 2)).ok());
  }
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      GgufFile::Open(GgufWriter::ShardPath(prefix, 0, 2));
  EXPECT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("tensor 'same.weight' is also in shard 1"));
  EXPECT_THAT(file.status().message(), HasSubstr("offset "));
  RemoveShards(prefix, 2);
}

TEST(GgufSplitTest, RejectsBadShardCounts) {
  GgufWriter writer = SampleGguf::MakeWriter();
  EXPECT_FALSE(writer.WriteSplit(TempPrefix("bad"), 0).ok());
  EXPECT_FALSE(writer.WriteSplit(TempPrefix("bad"), 70000).ok());
}

}  // namespace
}  // namespace hobbit::runtime
