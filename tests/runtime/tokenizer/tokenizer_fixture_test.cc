// Compares the tokenizers against the reference libraries, string for string: the fixtures in
// tests/fixtures/tokenizer/ hold tokenizers trained with Hugging Face `tokenizers` and
// `sentencepiece`, exported to GGUF, and the ids/decodes/pre-tokenizations those libraries
// produce (regenerate with tests/fixtures/tokenizer/make_tokenizer_fixtures.py).
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/tokenizer/internal/pre_tokenizer.h"
#include "runtime/tokenizer/internal/utf8.h"
#include "runtime/tokenizer/streaming_detokenizer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/tokenizer_vocab.h"

namespace hobbit::runtime {
namespace {

std::string FixturePath(const std::string& name) {
  return std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/tokenizer/" + name;
}

// Undoes the script's escaping: \\ \t \n \r \xHH.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    const char c = s[++i];
    if (c == 't') {
      out.push_back('\t');
    } else if (c == 'n') {
      out.push_back('\n');
    } else if (c == 'r') {
      out.push_back('\r');
    } else if (c == 'x' && i + 2 < s.size()) {
      unsigned value = 0;
      EXPECT_TRUE(absl::SimpleHexAtoi(std::string(s.substr(i + 1, 2)), &value)) << s;
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Lines of a fixture file after its "# ..." header line.
std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<std::string> lines;
  std::string header;
  std::getline(in, header);
  EXPECT_TRUE(header.starts_with("# ")) << path;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> ReadStrings() {
  std::vector<std::string> strings;
  for (const std::string& line : ReadLines(FixturePath("strings.txt"))) {
    strings.push_back(Unescape(line));
  }
  return strings;
}

template <typename T>
std::vector<T> ParseInts(const std::string& field) {
  std::vector<T> out;
  const std::vector<std::string> parts = absl::StrSplit(field, ' ', absl::SkipEmpty());
  for (const std::string& s : parts) {
    int64_t v = 0;
    EXPECT_TRUE(absl::SimpleAtoi(s, &v)) << s;
    out.push_back(static_cast<T>(v));
  }
  return out;
}

// One expected line: index, add_special, parse_special, ids, decode_skip, decode_keep.
struct Case {
  size_t index;
  bool add_special;
  bool parse_special;
  std::vector<int32_t> ids;
  std::optional<std::string> decode_skip;  // nullopt: the reference has none
  std::optional<std::string> decode_keep;
};

std::optional<std::string> DecodeField(std::string_view field, const std::string& text) {
  if (field == "=") return text;
  if (field == "-") return std::nullopt;
  EXPECT_TRUE(field.starts_with(":")) << field;
  return Unescape(field.substr(1));
}

std::vector<Case> ReadCases(const std::string& name, const std::vector<std::string>& strings) {
  std::vector<Case> cases;
  for (const std::string& line : ReadLines(FixturePath(name + ".expected.txt"))) {
    const std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() != 6) {
      ADD_FAILURE() << "bad line: " << line;
      continue;
    }
    Case c;
    c.index = ParseInts<size_t>(f[0]).at(0);
    c.add_special = f[1] == "1";
    c.parse_special = f[2] == "1";
    c.ids = ParseInts<int32_t>(f[3]);
    c.decode_skip = DecodeField(f[4], strings.at(c.index));
    c.decode_keep = DecodeField(f[5], strings.at(c.index));
    cases.push_back(std::move(c));
  }
  return cases;
}

std::unique_ptr<Tokenizer> LoadFixtureTokenizer(const std::string& name) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(FixturePath(name + ".gguf"));
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  absl::StatusOr<TokenizerVocab> vocab = LoadTokenizerVocab(**file);
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  if (!vocab.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(*std::move(vocab));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

std::string Show(const std::string& s) {
  std::ostringstream out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out << c;
    } else {
      out << "\\x" << std::hex << static_cast<int>(c) << std::dec;
    }
  }
  return out.str();
}

bool IsValidUtf8(const std::string& s) {
  for (size_t pos = 0; pos < s.size();) {
    const internal::Utf8Char c = internal::DecodeUtf8Char(s, pos);
    if (!c.valid) return false;
    pos += c.length;
  }
  return true;
}

class TokenizerFixtureTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    strings_ = ReadStrings();
    ASSERT_GE(strings_.size(), 1000u);
    cases_ = ReadCases(GetParam(), strings_);
    ASSERT_FALSE(cases_.empty());
    tok_ = LoadFixtureTokenizer(GetParam());
    ASSERT_NE(tok_, nullptr);
  }

  std::vector<std::string> strings_;
  std::vector<Case> cases_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_P(TokenizerFixtureTest, EncodeMatchesReferenceLibrary) {
  int passed = 0;
  int failures_shown = 0;
  for (const Case& c : cases_) {
    const std::string& text = strings_[c.index];
    const std::vector<int32_t> ids = tok_->Encode(text, c.add_special, c.parse_special);
    if (ids == c.ids) {
      ++passed;
    } else if (failures_shown++ < 15) {
      ADD_FAILURE() << GetParam() << " string #" << c.index << " \"" << Show(text)
                    << "\" add_special=" << c.add_special << " parse_special=" << c.parse_special
                    << "\n  expected: " << absl::StrJoin(c.ids, " ")
                    << "\n  actual:   " << absl::StrJoin(ids, " ");
    }
  }
  std::cout << "[ encode   ] " << GetParam() << ": " << strings_.size() << " strings, " << passed
            << "/" << cases_.size() << " cases identical ("
            << 100.0 * passed / static_cast<double>(cases_.size()) << "%)\n";
  EXPECT_EQ(passed, static_cast<int>(cases_.size()));
}

TEST_P(TokenizerFixtureTest, DecodeMatchesReferenceLibrary) {
  int compared = 0;
  int passed = 0;
  for (const Case& c : cases_) {
    for (bool skip : {true, false}) {
      const std::optional<std::string>& expected = skip ? c.decode_skip : c.decode_keep;
      if (!expected.has_value()) continue;
      ++compared;
      const std::string decoded = tok_->Decode(c.ids, skip);
      if (decoded == *expected) {
        ++passed;
      } else if (compared - passed <= 15) {
        ADD_FAILURE() << GetParam() << " string #" << c.index << " skip_special=" << skip << " ids "
                      << absl::StrJoin(c.ids, " ") << "\n  expected: \"" << Show(*expected)
                      << "\"\n  actual:   \"" << Show(decoded) << "\"";
      }
    }
  }
  std::cout << "[ decode   ] " << GetParam() << ": " << passed << "/" << compared
            << " decodes identical\n";
  EXPECT_GT(compared, 1000);
  EXPECT_EQ(passed, compared);
}

TEST_P(TokenizerFixtureTest, StreamingDetokenizerEqualsDecodeAndEmitsValidUtf8) {
  for (const Case& c : cases_) {
    for (bool skip : {true, false}) {
      StreamingDetokenizer detok(*tok_, skip, /*sequence_start=*/true);
      std::string streamed;
      for (int32_t id : c.ids) {
        const std::string chunk = detok.Push(id);
        ASSERT_TRUE(IsValidUtf8(chunk)) << GetParam() << " string #" << c.index;
        streamed += chunk;
      }
      const std::string rest = detok.Flush();
      ASSERT_TRUE(IsValidUtf8(rest));
      streamed += rest;
      ASSERT_EQ(streamed, tok_->Decode(c.ids, skip)) << GetParam() << " string #" << c.index;
    }
  }
}

// Byte-level BPE fixtures only: SentencePiece has no pre-tokenizer.
class PreTokenizerFixtureTest : public TokenizerFixtureTest {};

TEST_P(PreTokenizerFixtureTest, SplitMatchesReferenceLibrary) {
  const internal::PreTokenizer pre(internal::ResolvePreTokenizer(tok_->vocab().pre).kind);
  int passed = 0;
  int total = 0;
  for (const std::string& line : ReadLines(FixturePath(GetParam() + ".pretok.txt"))) {
    const std::vector<std::string> f = absl::StrSplit(line, '\t');
    ASSERT_EQ(f.size(), 2u) << line;
    const size_t index = ParseInts<size_t>(f[0]).at(0);
    const std::vector<size_t> expected = ParseInts<size_t>(f[1]);
    std::vector<size_t> actual;
    for (std::string_view piece : pre.Split(strings_.at(index))) actual.push_back(piece.size());
    ++total;
    if (actual == expected) {
      ++passed;
    } else if (total - passed <= 15) {
      ADD_FAILURE() << GetParam() << " string #" << index << " \"" << Show(strings_[index])
                    << "\"\n  expected piece bytes: " << absl::StrJoin(expected, " ")
                    << "\n  actual piece bytes:   " << absl::StrJoin(actual, " ");
    }
  }
  std::cout << "[ pretok   ] " << GetParam() << ": " << passed << "/" << total
            << " pre-tokenizations identical\n";
  EXPECT_EQ(total, static_cast<int>(strings_.size()));
  EXPECT_EQ(passed, total);
}

// Encode is const and documented thread-safe: concurrent use must give the same ids.
TEST_P(TokenizerFixtureTest, ConcurrentEncodeIsConsistent) {
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < cases_.size(); i += 2) {
        const Case& c = cases_[i];
        if (tok_->Encode(strings_[c.index], c.add_special, c.parse_special) != c.ids) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerFixtureTest,
                         testing::Values("bpe_gpt2", "bpe_qwen2", "bpe_llama3", "bpe_default",
                                         "spm"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

INSTANTIATE_TEST_SUITE_P(Fixtures, PreTokenizerFixtureTest,
                         testing::Values("bpe_gpt2", "bpe_qwen2", "bpe_llama3", "bpe_default"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace hobbit::runtime
