// ExpertStore: the low copies (types, accuracy) and the disk cache (written, read back,
// corrupt / truncated / stale caches rebuilt and never trusted).
#include "runtime/experts/expert_store.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"
#include "kernels/quant/dequantize.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/model/model.h"

namespace hobbit::runtime {
namespace {

namespace fs = std::filesystem;
using kernels::GgmlType;

const std::string kMixtral = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/hf_tiny/mixtral/";

uint32_t T(GgmlType t) { return static_cast<uint32_t>(t); }

TEST(ExpertStoreTest, LowTypes) {
  EXPECT_EQ(LowTypeFor(LowFormat::kInt4, T(GgmlType::kF16), 4096), T(GgmlType::kQ4_1));
  EXPECT_EQ(LowTypeFor(LowFormat::kInt2, T(GgmlType::kQ8_0), 4096), T(GgmlType::kQ2_K));
  EXPECT_EQ(LowTypeFor(LowFormat::kInt2, T(GgmlType::kQ8_0), 64), T(GgmlType::kQ4_1));  // not 256-multiple
  EXPECT_EQ(LowTypeFor(LowFormat::kAuto, T(GgmlType::kQ8_0), 512), T(GgmlType::kQ2_K));
  EXPECT_EQ(LowTypeFor(LowFormat::kAuto, T(GgmlType::kBF16), 512), T(GgmlType::kQ4_1));
  EXPECT_EQ(LowTypeFor(LowFormat::kInt4, T(GgmlType::kF32), 48), T(GgmlType::kF32));  // no group fits
}

// A model's experts, loaded on the CPU backend (views into the mapped file).
struct Experts {
  std::shared_ptr<const GgufFile> file;
  std::unique_ptr<CpuBackend> backend;
  std::unique_ptr<Model> model;
  std::vector<LayerExperts> layers;
};

// Captures the layers' experts through the ExpertFfn seam.
class CapturingFfn final : public ExpertFfn {
 public:
  explicit CapturingFfn(std::vector<LayerExperts>* out) : out_(out) {}
  absl::Status Init(const ModelConfig&, std::span<const LayerExperts> experts, Backend&) override {
    out_->assign(experts.begin(), experts.end());
    return absl::OkStatus();
  }
  absl::Status Run(int32_t, const float*, const ExpertRouting&, float*) override { return absl::OkStatus(); }

 private:
  std::vector<LayerExperts>* out_;
};

Experts LoadExperts(const std::string& path) {
  Experts e;
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  e.file = std::move(*file);
  e.backend = std::make_unique<CpuBackend>(CpuBackendOptions{.threads = 1});
  auto model = Model::Load(e.file, *e.backend, {.expert_ffn = std::make_unique<CapturingFfn>(&e.layers)});
  EXPECT_TRUE(model.ok()) << model.status();
  e.model = std::move(*model);
  return e;
}

std::vector<float> Dequantize(const WeightView& w) {
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    EXPECT_TRUE(kernels::DequantizeRow(static_cast<GgmlType>(w.type),
                                       static_cast<const uint8_t*>(w.data) + r * w.row_bytes, &out[r * w.cols], w.cols)
                    .ok());
  }
  return out;
}

TEST(ExpertStoreTest, LowCopiesAreGroupwiseInt4CloseToTheHighCopies) {
  Experts m = LoadExperts(kMixtral + "model-f32.gguf");
  ExpertStoreOptions o;
  std::vector<std::string> progress;
  o.progress = [&](std::string_view line) { progress.emplace_back(line); };
  auto store = ExpertStore::Create(m.model->config(), m.layers, o);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE(progress.empty());
  EXPECT_FALSE((*store)->loaded_from_cache());
  for (int32_t l = 0; l < (*store)->n_layer(); ++l) {
    for (int32_t e = 0; e < (*store)->n_expert(); ++e) {
      const ExpertCopy& hi = (*store)->high(l, e);
      const ExpertCopy& lo = (*store)->low(l, e);
      EXPECT_EQ(hi.gate.data, m.layers[l].gate[e].data);  // the file's bytes, not a copy
      EXPECT_EQ(lo.gate.type, T(GgmlType::kQ4_1));
      EXPECT_LT(lo.bytes() * 5, hi.bytes());  // 5 bits per weight against 32
      const std::vector<float> a = Dequantize(hi.down), b = Dequantize(lo.down);
      double num = 0, den = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += a[i] * a[i];
      }
      EXPECT_LT(std::sqrt(num / den), 0.15) << "layer " << l << " expert " << e;
    }
  }
}

class ExpertStoreCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hobbit_expert_store_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    model_path_ = dir_ + "/model.gguf";
    fs::copy_file(kMixtral + "model-q8_0.gguf", model_path_);
    m_ = LoadExperts(model_path_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ExpertStore> Make(std::vector<std::string>* progress = nullptr) {
    ExpertStoreOptions o;
    o.format = LowFormat::kInt2;
    o.state_dir = dir_;
    o.model_path = model_path_;
    o.threads = 2;
    if (progress) o.progress = [progress](std::string_view line) { progress->emplace_back(line); };
    auto store = ExpertStore::Create(m_.model->config(), m_.layers, o);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  static std::vector<uint8_t> LowBytes(const ExpertStore& s) {
    const ExpertCopy& first = s.low(0, 0);
    const auto* p = static_cast<const uint8_t*>(first.gate.data);
    return std::vector<uint8_t>(p, p + s.low_bytes_total());
  }

  std::string dir_, model_path_;
  Experts m_;
};

TEST_F(ExpertStoreCacheTest, WrittenThenReadBack) {
  auto built = Make();
  ASSERT_NE(built, nullptr);
  EXPECT_FALSE(built->loaded_from_cache());
  ASSERT_TRUE(fs::exists(built->cache_path()));
  auto read = Make();
  ASSERT_NE(read, nullptr);
  EXPECT_TRUE(read->loaded_from_cache());
  EXPECT_EQ(read->cache_path(), built->cache_path());
  EXPECT_EQ(LowBytes(*read), LowBytes(*built));
}

TEST_F(ExpertStoreCacheTest, CorruptCacheIsDetectedAndRebuilt) {
  auto built = Make();
  ASSERT_NE(built, nullptr);
  const std::vector<uint8_t> good = LowBytes(*built);
  const std::string path = built->cache_path();
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-100, std::ios::end);
    char c;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(-100, std::ios::end);
    f.write(&c, 1);
  }
  std::vector<std::string> progress;
  auto rebuilt = Make(&progress);
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_FALSE(rebuilt->loaded_from_cache());
  EXPECT_NE(rebuilt->cache_problem().find("checksum"), std::string::npos) << rebuilt->cache_problem();
  EXPECT_EQ(LowBytes(*rebuilt), good);
  bool said = false;
  for (const std::string& line : progress) said = said || line.find("rebuilding") != std::string::npos;
  EXPECT_TRUE(said);
  auto again = Make();  // the rebuilt cache was rewritten and is good
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(again->loaded_from_cache());
}

TEST_F(ExpertStoreCacheTest, TruncatedCacheIsRebuilt) {
  auto built = Make();
  ASSERT_NE(built, nullptr);
  fs::resize_file(built->cache_path(), fs::file_size(built->cache_path()) - 1);
  auto rebuilt = Make();
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_FALSE(rebuilt->loaded_from_cache());
  EXPECT_EQ(LowBytes(*rebuilt), LowBytes(*built));
}

TEST_F(ExpertStoreCacheTest, ModifiedModelFileMakesTheCacheStale) {
  auto built = Make();
  ASSERT_NE(built, nullptr);
  struct timeval times[2] = {{1000000000, 0}, {1000000000, 0}};  // a different mtime
  ASSERT_EQ(::utimes(model_path_.c_str(), times), 0);
  auto rebuilt = Make();
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_FALSE(rebuilt->loaded_from_cache());
  EXPECT_NE(rebuilt->cache_path(), built->cache_path());
  // A cache file copied over the new key's name (same layout, other identity) is not trusted.
  fs::copy_file(built->cache_path(), rebuilt->cache_path(), fs::copy_options::overwrite_existing);
  auto again = Make();
  ASSERT_NE(again, nullptr);
  EXPECT_FALSE(again->loaded_from_cache());
  EXPECT_NE(again->cache_problem().find("another model file"), std::string::npos) << again->cache_problem();
}

}  // namespace
}  // namespace hobbit::runtime
