// hobbit-tool end to end: the real binary on real files, as a user runs it.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/run_command.h"

namespace {

const std::string kSource = HOBBIT_SOURCE_DIR;
const std::string kTool = std::string(HOBBIT_BINARY_DIR) + "/bin/hobbit-tool";

using Result = hobbit::test_support::CommandResult;

Result RunTool(const std::string& args) { return hobbit::test_support::RunCommand(kTool + " " + args); }

std::string TempPath(const std::string& name) {
  return std::string(::testing::TempDir()) + "/hobbit_tool_test_" + name;
}

std::vector<float> ReadF32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

TEST(HobbitToolTest, LogitsMatchTheTransformersReference) {
  const std::string dir = kSource + "/tests/fixtures/hf_tiny/qwen3moe/";
  std::ifstream prompt_in(dir + "prompt.txt");
  std::string ids, id;
  while (prompt_in >> id) ids += (ids.empty() ? "" : ",") + id;
  const std::string out = TempPath("logits.f32");
  Result r = RunTool("logits --model " + dir + "model-f32.gguf --tokens " + ids + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<float> got = ReadF32(out);
  const std::vector<float> ref = ReadF32(dir + "prompt_logits.f32");
  ASSERT_EQ(got.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - ref[i]) * double(got[i] - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  EXPECT_LT(std::sqrt(num / den), 1e-4);
}

TEST(HobbitToolTest, TokenizePrintsOneLineOfIdsPerJsonString) {
  const std::string in = TempPath("in.jsonl");
  std::ofstream(in) << "\"hello world\"\n\"caf\\u00e9 \\ud83d\\ude00\"\n\"\"\n";
  Result r = RunTool("tokenize --model " + kSource + "/config/models/hobbit-demo-q8_0.gguf --jsonl " + in);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = r.output.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(r.output.substr(start, nl - start));
  }
  ASSERT_EQ(lines.size(), 3u) << r.output;
  // The demo model adds BOS (id 0) to every input, the empty string included.
  EXPECT_EQ(lines[0].rfind("0 ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[2], "0");
}

TEST(HobbitToolTest, TokenizeRejectsALineThatIsNotAJsonString) {
  const std::string in = TempPath("bad.jsonl");
  std::ofstream(in) << "\"ok\"\nnot json\n";
  Result r = RunTool("tokenize --model " + kSource + "/config/models/hobbit-demo-q8_0.gguf --jsonl " + in);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(":2: expected a JSON string"), std::string::npos) << r.output;
}

// The demo model's greedy continuation equals the one PyTorch and a NumPy forward over the
// same GGUF produced when it was trained (config/models/README.md).
TEST(HobbitToolTest, DemoModelGreedyCompletionMatchesTrainingReference) {
  Result r = RunTool("generate --model " + kSource +
                 "/config/models/hobbit-demo-q8_0.gguf --prompt 'def fibonacci(' --max-tokens 24 --temperature 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("lib, fibonacci):\n    return fibonacci(lib, fibonacci)", 0), 0u) << r.output;
}

TEST(HobbitToolTest, SynthTinyWritesAModelThatLoadsAndGenerates) {
  const std::string out = TempPath("tiny.gguf");
  Result r = RunTool("synth --preset tiny --type q4_0 --seed 7 --threads 3 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunTool("info --model " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("experts           8, 2 used per token"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Q4_0"), std::string::npos) << r.output;
  r = RunTool("generate --model " + out + " --prompt hello --max-tokens 8 --seed 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Same seed, same bytes, whatever the number of threads.
  const std::string again = TempPath("tiny2.gguf");
  ASSERT_EQ(RunTool("synth --preset tiny --type q4_0 --seed 7 --threads 1 --out " + again).exit_code, 0);
  std::ifstream a(out, std::ios::binary), b(again, std::ios::binary);
  EXPECT_TRUE(std::equal(std::istreambuf_iterator<char>(a), {}, std::istreambuf_iterator<char>(b)));
}

TEST(HobbitToolTest, BadUsageIsNamed) {
  EXPECT_EQ(RunTool("").exit_code, 2);
  Result r = RunTool("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown command 'frobnicate'"), std::string::npos);
  r = RunTool("logits --model x.gguf --tokens 1,2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--out is required"), std::string::npos) << r.output;
  r = RunTool("info --model /nonexistent/model.gguf");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/model.gguf"), std::string::npos) << r.output;
  r = RunTool("synth --preset tiny --type q9_9 --out x.gguf");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown weight type 'q9_9'"), std::string::npos) << r.output;
  r = RunTool("logits --model " + kSource + "/tests/fixtures/hf_tiny/mixtral/model-f32.gguf --tokens 1,99999 --out x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("99999 is out of range"), std::string::npos) << r.output;
}

}  // namespace
