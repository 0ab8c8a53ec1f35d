// Deterministic mutation testing: truncations and random corruptions of a valid file must give
// OK or an error, never a crash or an out-of-bounds read (run under ASan to prove the latter).
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"
#include "tests/runtime/gguf/sample_gguf.h"

namespace hobbit::runtime {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> SampleBytes() {
  absl::StatusOr<std::vector<uint8_t>> bytes = SampleGguf::MakeWriter().WriteToBytes();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *std::move(bytes) : std::vector<uint8_t>{};
}

// Reads everything an opened file exposes, so ASan sees any pointer that escaped the bounds.
uint64_t Exercise(const GgufFile& file) {
  uint64_t sum = 0;
  for (const auto& [key, value] : file.metadata()) {
    sum += key.size() + value.DebugString().size() + value.array_size();
    if (auto ints = value.AsIntArray()) sum += ints->size();
    if (auto floats = value.AsFloatArray()) sum += floats->size();
    (void)file.GetPerLayerInt(key, 4);
    (void)file.GetInt(key);
    (void)file.GetString(key);
  }
  for (const GgufTensorInfo& t : file.tensors()) {
    for (uint64_t i = 0; i < t.nbytes; ++i) sum += t.data[i];
    sum += static_cast<uint64_t>(t.n_elements());
  }
  return sum;
}

TEST(GgufFuzzTest, EveryTruncationFailsCleanly) {
  std::vector<uint8_t> bytes = SampleBytes();
  absl::StatusOr<std::unique_ptr<GgufFile>> full = GgufFile::FromBytes(bytes);
  ASSERT_TRUE(full.ok()) << full.status();
  uint64_t data_end = 0;
  for (const GgufTensorInfo& t : (*full)->tensors()) {
    data_end = std::max(data_end, t.file_offset + t.nbytes);
  }
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(len));
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(std::move(prefix));
    if (len < data_end) {
      ASSERT_FALSE(file.ok()) << "truncated to " << len << " bytes";
      EXPECT_THAT(file.status().message(), HasSubstr("offset ")) << len;
    } else {
      // Only the padding after the last tensor is gone; the file is still complete.
      ASSERT_TRUE(file.ok()) << len << ": " << file.status();
      Exercise(**file);
    }
  }
}

// Overwrites a few bytes: random xors, or a hostile 8- or 4-byte value at a random position.
void Mutate(std::vector<uint8_t>& bytes, std::mt19937_64& rng) {
  static const uint64_t kHostile[] = {0,          1,          5,           63,
                                      64,         0xFFFFFFFF, 0x7FFFFFFF,  1ull << 32,
                                      1ull << 60, ~0ull,      1ull << 63,  4096};
  std::uniform_int_distribution<size_t> pos(0, bytes.size() - 1);
  int n = static_cast<int>(rng() % 4) + 1;
  for (int i = 0; i < n; ++i) {
    size_t p = pos(rng);
    switch (rng() % 3) {
      case 0:
        bytes[p] ^= static_cast<uint8_t>(1 + rng() % 255);
        break;
      case 1:
      case 2: {
        uint64_t v = kHostile[rng() % std::size(kHostile)];
        size_t width = rng() % 2 == 0 ? 8 : 4;
        for (size_t k = 0; k < width && p + k < bytes.size(); ++k) {
          bytes[p + k] = static_cast<uint8_t>(v >> (8 * k));
        }
        break;
      }
    }
  }
}

TEST(GgufFuzzTest, RandomCorruptionsNeverCrash) {
  const std::vector<uint8_t> bytes = SampleBytes();
  std::mt19937_64 rng(0x6775'6666);  // fixed seed: the same mutations on every run
  constexpr int kMutations = 5000;
  int ok = 0;
  uint64_t checksum = 0;
  for (int i = 0; i < kMutations; ++i) {
    std::vector<uint8_t> mutated = bytes;
    Mutate(mutated, rng);
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::FromBytes(std::move(mutated));
    if (file.ok()) {
      ++ok;
      checksum += Exercise(**file);
    } else {
      EXPECT_THAT(file.status().message(), HasSubstr("offset ")) << "mutation " << i;
    }
  }
  std::cout << "gguf fuzz: " << kMutations << " mutations, " << ok << " opened, "
            << kMutations - ok << " rejected (checksum " << checksum << ")\n";
  // Corruption inside tensor data or string bytes is undetectable, so some must still open,
  // and header/info corruption must be caught, so not all can.
  EXPECT_GT(ok, 0);
  EXPECT_LT(ok, kMutations);
}

}  // namespace
}  // namespace hobbit::runtime
