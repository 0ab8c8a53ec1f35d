// Every file of tests/fixtures/gguf_malformed/ (made by make_gguf_malformed.py) must fail to
// open with the error its manifest names, at the byte offset it names; files of stage "model"
// are valid containers and must open.
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"

namespace hobbit::runtime {
namespace {

using ::testing::HasSubstr;

const std::string kDir = std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/gguf_malformed/";

struct ManifestRow {
  std::string file;
  std::string stage;
  std::string offset;  // "-" when not fixed
  std::string expected;
};

std::vector<ManifestRow> ReadManifest() {
  std::ifstream in(kDir + "manifest.tsv");
  EXPECT_TRUE(in.good()) << "cannot read " << kDir << "manifest.tsv";
  std::vector<ManifestRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    EXPECT_EQ(f.size(), 4u) << line;
    if (f.size() == 4) rows.push_back({f[0], f[1], f[2], f[3]});
  }
  return rows;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

TEST(GgufMalformedTest, CorpusIsLargeAndCoversEveryStage) {
  std::vector<ManifestRow> rows = ReadManifest();
  int errors = 0;
  int model = 0;
  for (const ManifestRow& r : rows) (r.stage == "model" ? model : errors)++;
  EXPECT_GE(errors, 20);
  EXPECT_GE(model, 2);
}

TEST(GgufMalformedTest, EveryFileFailsWithItsExpectedError) {
  for (const ManifestRow& r : ReadManifest()) {
    SCOPED_TRACE(r.file);
    std::string path = kDir + r.file;
    absl::StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(path);
    absl::StatusOr<std::unique_ptr<GgufFile>> parsed = GgufFile::FromBytes(ReadBytes(path), r.file);
    if (r.stage == "model") {
      // The container is fine; the model loader rejects the missing key (see the manifest).
      EXPECT_TRUE(opened.ok()) << opened.status();
      EXPECT_TRUE(parsed.ok()) << parsed.status();
      continue;
    }
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
    std::string message(opened.status().message());
    EXPECT_THAT(message, HasSubstr(r.expected));
    EXPECT_THAT(message, HasSubstr(path + ": offset "));
    if (r.offset != "-") {
      EXPECT_THAT(message, HasSubstr(absl::StrCat("offset ", r.offset, ": ")));
    }
    // The in-memory path gives the same diagnosis.
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(std::string(parsed.status().message()),
              absl::StrCat(r.file, message.substr(path.size())));
  }
}

}  // namespace
}  // namespace hobbit::runtime
