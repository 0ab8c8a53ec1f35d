// The expert usage kept between runs (UsageMemory) and the warm start it feeds
// (ExpertOptions::warm_start): the file round-trips and refuses another shape or damage; a run
// that starts from an earlier run's counts misses less.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/experts/usage_memory.h"
#include "tests/runtime/experts/loader_harness.h"

namespace hobbit::runtime {
namespace {

using loader_test::HighSlotBytes;
using loader_test::kMixtral;
using loader_test::Load;
using loader_test::Loaded;
using loader_test::RunSequence;

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::string> UsageFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("experts-usage-", 0) == 0) files.push_back(entry.path().string());
  }
  return files;
}

TEST(UsageMemoryTest, RoundTripsAndRefusesAnotherShapeOrDamage) {
  const std::string dir = FreshDir("hobbit_usage_memory");
  UsageMemory memory(dir + "/u.txt", 2, 3);
  EXPECT_TRUE(absl::IsNotFound(memory.Read().status()));
  ASSERT_TRUE(memory.Write({5, 0, 7, 1, 9, 0}).ok());
  absl::StatusOr<std::vector<uint64_t>> back = memory.Read();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, (std::vector<uint64_t>{5, 0, 7, 1, 9, 0}));
  // Most used first, unused left out, ties in layer order.
  EXPECT_EQ(UsageMemory::MostUsed(*back, 3),
            (std::vector<std::pair<int32_t, int32_t>>{{1, 1}, {0, 2}, {0, 0}, {1, 0}}));
  EXPECT_EQ(UsageMemory(dir + "/u.txt", 3, 3).Read().status().code(), absl::StatusCode::kDataLoss);
  { std::ofstream(dir + "/u.txt") << "hobbit-expert-usage 1 2 3\n1 2 3\n4 5\n"; }
  EXPECT_EQ(memory.Read().status().code(), absl::StatusCode::kDataLoss);
  { std::ofstream(dir + "/u.txt") << "something else\n"; }
  EXPECT_EQ(memory.Read().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(UsageMemory("/no/such/folder/u.txt", 2, 3).Write({0, 0, 0, 0, 0, 0}).ok());
}

// experts.warm_start with a state_dir: a run leaves its lookup counts there, and the next start
// copies the most used experts into the empty cache, so the same sequence misses less; an
// ondemand-lru run (all high precision) gives the same logits either way. A damaged file is
// ignored.
TEST(OffloadedExpertFfnTest, WarmStartFillsTheCacheWithTheMostUsedExpertsOfEarlierRuns) {
  for (ExpertMode mode : {ExpertMode::kOndemandLru, ExpertMode::kHobbit}) {
    const std::string dir = FreshDir("hobbit_warm_start");
    Loaded probe = Load(kMixtral + "model-f32.gguf", std::nullopt);
    ExpertOptions o;
    o.mode = mode;
    o.gpu_cache_bytes = 4 * HighSlotBytes(probe);
    o.state_dir = dir;
    std::vector<float> cold;
    uint64_t cold_misses = 0;
    {
      Loaded first = Load(kMixtral + "model-f32.gguf", o);
      ASSERT_NE(first.model, nullptr);
      EXPECT_EQ(first.loader->cache().num_resident(Precision::kHigh), 0);
      cold = RunSequence(first);
      const ExpertStats& s = first.loader->total_stats();
      cold_misses = s.misses_high + s.misses_low + s.misses_skip;
    }
    ASSERT_EQ(UsageFiles(dir).size(), 1u) << ExpertModeName(mode);
    {
      Loaded second = Load(kMixtral + "model-f32.gguf", o);
      ASSERT_NE(second.model, nullptr);
      EXPECT_GT(second.loader->cache().num_resident(Precision::kHigh), 0) << ExpertModeName(mode);
      const std::vector<float> warm = RunSequence(second);
      const ExpertStats& s = second.loader->total_stats();
      EXPECT_LT(s.misses_high + s.misses_low + s.misses_skip, cold_misses) << ExpertModeName(mode);
      if (mode == ExpertMode::kOndemandLru) {
        ASSERT_EQ(warm.size(), cold.size());
        EXPECT_EQ(std::memcmp(warm.data(), cold.data(), cold.size() * sizeof(float)), 0);
      }
    }
    { std::ofstream(UsageFiles(dir)[0]) << "damaged"; }
    Loaded third = Load(kMixtral + "model-f32.gguf", o);
    ASSERT_NE(third.model, nullptr);
    EXPECT_EQ(third.loader->cache().num_resident(Precision::kHigh), 0) << ExpertModeName(mode);
    // Off: no counts are kept.
    ExpertOptions off = o;
    off.warm_start = false;
    const std::string other = FreshDir("hobbit_warm_start_off");
    off.state_dir = other;
    {
      Loaded l = Load(kMixtral + "model-f32.gguf", off);
      RunSequence(l);
    }
    EXPECT_TRUE(UsageFiles(other).empty());
  }
}

// A state folder the counts cannot be written to (here: a file) turns the warm start off at load
// (a warning) and the loader serves as usual.
TEST(OffloadedExpertFfnTest, WarmStartIntoAnUnwritableFolderIsOffNotFatal) {
  const std::string dir = FreshDir("hobbit_warm_start_unwritable");
  const std::string not_a_folder = dir + "/file";
  { std::ofstream(not_a_folder) << "x"; }
  Loaded probe = Load(kMixtral + "model-f32.gguf", std::nullopt);
  ExpertOptions o;
  o.mode = ExpertMode::kHobbit;
  o.gpu_cache_bytes = 4 * HighSlotBytes(probe);
  o.state_dir = not_a_folder;
  Loaded l = Load(kMixtral + "model-f32.gguf", o);
  ASSERT_NE(l.model, nullptr);
  const std::vector<float> logits = RunSequence(l);
  EXPECT_FALSE(logits.empty());
  EXPECT_GT(l.loader->total_stats().lookups, 0u);
}

}  // namespace
}  // namespace hobbit::runtime
