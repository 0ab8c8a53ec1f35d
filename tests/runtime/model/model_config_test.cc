// ModelConfig and weight loading: files that are valid GGUF but not a usable model fail with an
// error naming what is missing or wrong.
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/gguf/gguf_writer.h"
#include "runtime/model/model.h"

namespace hobbit::runtime {
namespace {

const std::string kSource = HOBBIT_SOURCE_DIR;

// The "model" stage entries of the malformed-file corpus: they open, then fail to load.
TEST(ModelConfigTest, CorpusFilesMissingRequiredKeysAreRejectedByName) {
  std::ifstream manifest(kSource + "/tests/fixtures/gguf_malformed/manifest.tsv");
  ASSERT_TRUE(manifest.good());
  std::string line;
  int checked = 0;
  while (std::getline(manifest, line)) {
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() < 4 || cols[1] != "model") continue;
    auto file = GgufFile::Open(kSource + "/tests/fixtures/gguf_malformed/" + cols[0]);
    ASSERT_TRUE(file.ok()) << cols[0] << ": " << file.status();
    auto config = ReadModelConfig(**file);
    ASSERT_FALSE(config.ok()) << cols[0];
    EXPECT_NE(config.status().message().find(cols[3]), std::string::npos)
        << cols[0] << ": '" << config.status().message() << "' does not name " << cols[3];
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

// Rewrites a good fixture with one change and returns the load error.
absl::Status LoadModified(const std::function<void(GgufWriter&, const GgufFile&)>& edit, bool skip_tensor = false,
                          const std::string& skip_name = "") {
  auto src = GgufFile::Open(kSource + "/tests/fixtures/hf_tiny/mixtral/model-f32.gguf");
  if (!src.ok()) return src.status();
  GgufWriter w;
  for (const auto& [key, value] : (*src)->metadata()) w.Set(key, value);
  for (const GgufTensorInfo& t : (*src)->tensors()) {
    if (skip_tensor && t.name == skip_name) continue;
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    auto s = w.AddTensor(t.name, t.type, ne, std::vector<uint8_t>(t.data, t.data + t.nbytes));
    if (!s.ok()) return s;
  }
  edit(w, **src);
  auto bytes = w.WriteToBytes();
  if (!bytes.ok()) return bytes.status();
  auto file = GgufFile::FromBytes(std::move(*bytes));
  if (!file.ok()) return file.status();
  CpuBackend backend({.threads = 1});
  auto model = Model::Load(std::shared_ptr<const GgufFile>(std::move(*file)), backend, {});
  return model.status();
}

TEST(ModelConfigTest, UnmodifiedFixtureLoads) {
  EXPECT_TRUE(LoadModified([](GgufWriter&, const GgufFile&) {}).ok());
}

TEST(ModelConfigTest, UnsupportedArchitectureIsNamed) {
  absl::Status s = LoadModified([](GgufWriter& w, const GgufFile&) {
    w.Set("general.architecture", GgufValue::String("mamba"));
  });
  EXPECT_NE(s.message().find("'mamba' is not supported"), std::string::npos) << s;
}

TEST(ModelConfigTest, MissingTensorIsNamed) {
  absl::Status s = LoadModified([](GgufWriter&, const GgufFile&) {}, true, "blk.1.ffn_up_exps.weight");
  EXPECT_NE(s.message().find("blk.1.ffn_up_exps.weight"), std::string::npos) << s;
}

TEST(ModelConfigTest, HeadsNotMultipleOfKvHeadsAreRejected) {
  absl::Status s = LoadModified([](GgufWriter& w, const GgufFile&) {
    w.Set("llama.attention.head_count_kv", GgufValue::Uint32(3));
  });
  EXPECT_NE(s.message().find("KV heads"), std::string::npos) << s;
}

TEST(ModelConfigTest, ShapeMismatchNamesTensorAndShape) {
  absl::Status s = LoadModified([](GgufWriter& w, const GgufFile& f) {
    w.Set("llama.embedding_length", GgufValue::Uint32(96));
  });
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("has shape"), std::string::npos) << s;
}

TEST(ModelConfigTest, ExpertUsedCountAboveExpertCountIsRejected) {
  absl::Status s = LoadModified([](GgufWriter& w, const GgufFile&) {
    w.Set("llama.expert_used_count", GgufValue::Uint32(99));
  });
  EXPECT_NE(s.message().find("llama.expert_used_count"), std::string::npos) << s;
}

}  // namespace
}  // namespace hobbit::runtime
