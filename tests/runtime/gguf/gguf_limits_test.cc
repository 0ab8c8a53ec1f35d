// Hostile counts in large files: a count bounded only by the file size could still demand a
// huge allocation when the file is many GB of tensor data, so the reader also enforces fixed
// limits. Large files are made sparse, so they cost no disk or memory.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/gguf/gguf_writer.h"
#include "tests/runtime/gguf/sample_gguf.h"

namespace hobbit::runtime {
namespace {

using ::testing::HasSubstr;

class SparseFile {
 public:
  SparseFile(const std::string& name, const std::vector<uint8_t>& head, uint64_t size)
      : path_(::testing::TempDir() + "/gguf_limits_" + name) {
    int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    ::close(fd);
  }
  ~SparseFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Bytes {
 public:
  Bytes& U32(uint32_t v) { return Put(&v, 4); }
  Bytes& U64(uint64_t v) { return Put(&v, 8); }
  Bytes& Str(const std::string& s) {
    U64(s.size());
    return Put(s.data(), s.size());
  }
  const std::vector<uint8_t>& get() const { return b_; }

 private:
  Bytes& Put(const void* p, size_t n) {
    b_.insert(b_.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return *this;
  }
  std::vector<uint8_t> b_;
};

constexpr uint64_t kMiB = 1 << 20;

std::string OpenError(const SparseFile& f) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(f.path());
  EXPECT_FALSE(file.ok());
  return std::string(file.status().message());
}

TEST(GgufLimitsTest, HugeArrayInsideALargeFileIsRejectedBeforeAllocating) {
  Bytes b;
  b.U32(0x46554747).U32(3).U64(0).U64(1).Str("x.big").U32(9).U32(0).U64(280 * kMiB);
  SparseFile f("array", b.get(), 300 * kMiB);
  std::string message = OpenError(f);
  EXPECT_THAT(message, HasSubstr("array of 293601280 u8 elements exceeds the metadata size limit"));
  EXPECT_THAT(message, HasSubstr("offset 45: "));  // the array length field
}

TEST(GgufLimitsTest, HugeStringInsideALargeFileIsRejected) {
  Bytes b;
  b.U32(0x46554747).U32(3).U64(0).U64(1).Str("x.str").U32(8).U64(300 * kMiB);
  SparseFile f("string", b.get(), 400 * kMiB);
  EXPECT_THAT(OpenError(f), HasSubstr("string length 314572800 exceeds the metadata size limit"));
}

TEST(GgufLimitsTest, HugeKvCountInsideALargeFileIsRejected) {
  Bytes b;
  b.U32(0x46554747).U32(3).U64(0).U64(30000000);
  SparseFile f("kv", b.get(), 500 * kMiB);
  EXPECT_THAT(OpenError(f), HasSubstr("kv_count 30000000 cannot fit in the metadata size limit"));
}

TEST(GgufLimitsTest, HugeTensorCountInsideALargeFileIsRejected) {
  Bytes b;
  b.U32(0x46554747).U32(3).U64(2000000).U64(0);
  SparseFile f("tensors", b.get(), 100 * kMiB);
  EXPECT_THAT(OpenError(f), HasSubstr("tensor_count 2000000 exceeds the limit of 1048576"));
}

TEST(GgufLimitsTest, ManyTinyKeysFailOnTheFirstDuplicate) {
  // Ten million zero-filled KVs (empty key, u8 0) fit the limits; the second is a duplicate.
  Bytes b;
  b.U32(0x46554747).U32(3).U64(0).U64(10000000);
  SparseFile f("tiny", b.get(), 200 * kMiB);
  EXPECT_THAT(OpenError(f), HasSubstr("offset 37: duplicate key ''"));
}

TEST(GgufLimitsTest, InMemoryTensorDataIsAlignedLikeAMapping) {
  for (uint64_t alignment : {32u, 64u, 4096u}) {
    absl::StatusOr<std::vector<uint8_t>> bytes =
        SampleGguf::MakeWriter(3, alignment).WriteToBytes();
    ASSERT_TRUE(bytes.ok());
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(*std::move(bytes));
    ASSERT_TRUE(file.ok()) << file.status();
    for (const GgufTensorInfo& t : (*file)->tensors()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % alignment, 0u) << t.name;
    }
  }
}

}  // namespace
}  // namespace hobbit::runtime
