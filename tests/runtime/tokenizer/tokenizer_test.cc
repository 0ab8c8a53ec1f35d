// Loader defaults and validation, special ids, and the streaming detokenizer's handling of
// characters split across byte tokens. Reference comparisons live in tokenizer_fixture_test.cc.
#include "runtime/tokenizer/tokenizer.h"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_file.h"
#include "runtime/gguf/gguf_writer.h"
#include "runtime/tokenizer/internal/byte_level.h"
#include "runtime/tokenizer/internal/utf8.h"
#include "runtime/tokenizer/streaming_detokenizer.h"
#include "runtime/tokenizer/tokenizer_vocab.h"

namespace hobbit::runtime {
namespace {

using ::testing::HasSubstr;

const std::string kReplacement = "\xEF\xBF\xBD";   // U+FFFD
const std::string kGrinning = "\xF0\x9F\x98\x80";  // U+1F600

absl::StatusOr<TokenizerVocab> LoadFixtureVocab(const std::string& name) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(
      std::string(HOBBIT_SOURCE_DIR) + "/tests/fixtures/tokenizer/" + name + ".gguf");
  if (!file.ok()) return file.status();
  return LoadTokenizerVocab(**file);
}

bool IsValidUtf8(const std::string& s) {
  std::string repaired;
  internal::AppendRepairedUtf8(s, /*final=*/true, &repaired);
  return repaired == s;
}

std::unique_ptr<Tokenizer> LoadFixture(const std::string& name) {
  absl::StatusOr<TokenizerVocab> vocab = LoadFixtureVocab(name);
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  if (!vocab.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(*std::move(vocab));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

// A GGUF file holding only the given metadata, parsed back by the reader.
absl::StatusOr<std::unique_ptr<GgufFile>> MetadataOnlyGguf(
    const std::vector<std::pair<std::string, GgufValue>>& metadata) {
  GgufWriter writer;
  writer.Set("general.architecture", GgufValue::String("llama"));
  for (const auto& [key, value] : metadata) writer.Set(key, value);
  absl::StatusOr<std::vector<uint8_t>> bytes = writer.WriteToBytes();
  if (!bytes.ok()) return bytes.status();
  return GgufFile::FromBytes(*std::move(bytes));
}

std::vector<std::pair<std::string, GgufValue>> SmallSpmMetadata() {
  return {
      {"tokenizer.ggml.model", GgufValue::String("llama")},
      {"tokenizer.ggml.tokens", GgufValue::StringArray({"<unk>", "<s>", "</s>",
                                                        "\xE2\x96\x81"
                                                        "a",
                                                        "b"})},
      {"tokenizer.ggml.scores", GgufValue::Float32Array({0, 0, 0, -1, -2})},
      {"tokenizer.ggml.token_type", GgufValue::Int32Array({2, 3, 3, 1, 1})},
  };
}

TokenizerVocab SmallBpeVocab() {
  TokenizerVocab v;
  v.model = "gpt2";
  v.pre = "qwen2";
  v.tokens = {"a", "b", "ab", "<|endoftext|>"};
  v.token_types = {1, 1, 1, 3};
  v.merges = {"a b"};
  v.eos_id = 3;
  return v;
}

// --- loading and validation ------------------------------------------------------------------

TEST(TokenizerVocabTest, SpmFixtureGetsLlamaCppDefaultsForAbsentKeys) {
  absl::StatusOr<TokenizerVocab> vocab = LoadFixtureVocab("spm");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->model, "llama");
  EXPECT_TRUE(vocab->add_space_prefix);  // the file has no add_space_prefix key
  EXPECT_TRUE(vocab->add_bos);
  EXPECT_FALSE(vocab->add_eos);
  EXPECT_EQ(vocab->tokens.size(), vocab->scores.size());
  EXPECT_EQ(vocab->tokens.size(), vocab->token_types.size());
}

TEST(TokenizerVocabTest, Llama3FamilyAddsBosByDefault) {
  absl::StatusOr<TokenizerVocab> vocab = LoadFixtureVocab("bpe_llama3");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->pre, "llama-bpe");
  EXPECT_TRUE(vocab->add_bos);  // the file has no add_bos_token key
  EXPECT_FALSE(vocab->add_space_prefix);
  EXPECT_EQ(vocab->eot_id, -1);  // absent: the tokenizer finds it by text
}

TEST(TokenizerVocabTest, ExplicitKeysOverrideDefaults) {
  absl::StatusOr<TokenizerVocab> vocab = LoadFixtureVocab("bpe_qwen2");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_FALSE(vocab->add_bos);
  EXPECT_GE(vocab->pad_id, 0);
  EXPECT_FALSE(vocab->merges.empty());
}

TEST(TokenizerVocabTest, LoadsSmallHandWrittenFile) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file = MetadataOnlyGguf(SmallSpmMetadata());
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<TokenizerVocab> vocab = LoadTokenizerVocab(**file);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->bos_id, 1);  // llama.cpp's SPM defaults
  EXPECT_EQ(vocab->eos_id, 2);
  EXPECT_EQ(vocab->unk_id, 0);
  EXPECT_EQ(vocab->token_types[0], static_cast<int32_t>(TokenType::kUnknown));
}

struct BadFileCase {
  std::string key;
  GgufValue value;
  std::string message_part;
};

TEST(TokenizerVocabTest, BadFileErrorsNameTheKey) {
  const std::vector<BadFileCase> cases = {
      {"tokenizer.ggml.bos_token_id", GgufValue::Uint32(5), "tokenizer.ggml.bos_token_id"},
      {"tokenizer.ggml.eos_token_id", GgufValue::Uint32(1u << 31), "tokenizer.ggml.eos_token_id"},
      {"tokenizer.ggml.padding_token_id", GgufValue::String("x"),
       "tokenizer.ggml.padding_token_id"},
      {"tokenizer.ggml.scores", GgufValue::Float32Array({0, 0}), "tokenizer.ggml.scores"},
      {"tokenizer.ggml.token_type", GgufValue::Int32Array({1, 1, 1}), "tokenizer.ggml.token_type"},
      {"tokenizer.ggml.token_type", GgufValue::Int32Array({1, 1, 9, 1, 1}),
       "tokenizer.ggml.token_type[2]"},
      {"tokenizer.ggml.tokens", GgufValue::Int32Array({1, 2}), "tokenizer.ggml.tokens"},
      {"tokenizer.ggml.model", GgufValue::String("bert"), "tokenizer.ggml.model"},
      {"tokenizer.ggml.merges", GgufValue::StringArray({"a b", "ab"}), "tokenizer.ggml.merges[1]"},
      {"tokenizer.ggml.add_bos_token", GgufValue::Uint8(1), "tokenizer.ggml.add_bos_token"},
  };
  for (const BadFileCase& c : cases) {
    std::vector<std::pair<std::string, GgufValue>> metadata = SmallSpmMetadata();
    bool replaced = false;
    for (auto& [key, value] : metadata) {
      if (key == c.key) {
        value = c.value;
        replaced = true;
      }
    }
    if (!replaced) metadata.emplace_back(c.key, c.value);
    absl::StatusOr<std::unique_ptr<GgufFile>> file = MetadataOnlyGguf(metadata);
    ASSERT_TRUE(file.ok()) << file.status();
    absl::StatusOr<TokenizerVocab> vocab = LoadTokenizerVocab(**file);
    ASSERT_FALSE(vocab.ok()) << c.key;
    EXPECT_THAT(vocab.status().message(), HasSubstr(c.message_part));
  }
}

TEST(TokenizerVocabTest, MissingTokenListIsAnError) {
  absl::StatusOr<std::unique_ptr<GgufFile>> file =
      MetadataOnlyGguf({{"tokenizer.ggml.model", GgufValue::String("gpt2")}});
  ASSERT_TRUE(file.ok());
  absl::StatusOr<TokenizerVocab> vocab = LoadTokenizerVocab(**file);
  ASSERT_FALSE(vocab.ok());
  EXPECT_THAT(vocab.status().message(), HasSubstr("tokenizer.ggml.tokens"));
}

TEST(TokenizerVocabTest, CreateRejectsInconsistentVocab) {
  TokenizerVocab v = SmallBpeVocab();
  v.bos_id = 4;
  EXPECT_THAT(Tokenizer::Create(v).status().message(), HasSubstr("tokenizer.ggml.bos_token_id"));
  v = SmallBpeVocab();
  v.scores = {0.0f};
  EXPECT_THAT(Tokenizer::Create(v).status().message(), HasSubstr("tokenizer.ggml.scores"));
  v = SmallBpeVocab();
  v.add_bos = true;
  EXPECT_THAT(Tokenizer::Create(v).status().message(), HasSubstr("tokenizer.ggml.add_bos_token"));
  v = SmallBpeVocab();
  v.merges = {"a "};
  EXPECT_THAT(Tokenizer::Create(v).status().message(), HasSubstr("tokenizer.ggml.merges[0]"));
  v = SmallBpeVocab();
  v.tokens.clear();
  v.token_types.clear();
  v.eos_id = -1;
  EXPECT_THAT(Tokenizer::Create(v).status().message(), HasSubstr("tokenizer.ggml.tokens"));
}

TEST(TokenizerTest, MissingPreTokenizerIsReported) {
  std::unique_ptr<Tokenizer> tok = LoadFixture("bpe_default");  // written without a pre key
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab().pre, "");
  ASSERT_EQ(tok->warnings().size(), 1u);
  EXPECT_THAT(tok->warnings()[0], HasSubstr("tokenizer.ggml.pre is missing"));
}

TEST(TokenizerTest, AddSpecialFollowsTheVocabularyFlags) {
  TokenizerVocab v = SmallBpeVocab();
  v.add_eos = true;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(v);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->Encode("ab", /*add_special=*/true, false), std::vector<int32_t>({2, 3}));
  EXPECT_EQ((*tok)->Encode("ab", /*add_special=*/false, false), std::vector<int32_t>({2}));
  EXPECT_EQ((*tok)->Encode("", /*add_special=*/true, false), std::vector<int32_t>({3}));
}

TEST(TokenizerTest, UnknownPreTokenizerFallsBackToDefaultWithWarning) {
  TokenizerVocab v = SmallBpeVocab();
  v.pre = "some-future-model";
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(v);
  ASSERT_TRUE(tok.ok()) << tok.status();
  ASSERT_EQ((*tok)->warnings().size(), 1u);
  EXPECT_THAT((*tok)->warnings()[0], HasSubstr("some-future-model"));
  EXPECT_EQ((*tok)->Encode("ab", false, false), std::vector<int32_t>({2}));
}

// --- special ids ---------------------------------------------------------------------------

TEST(TokenizerTest, EndOfTurnIsFoundByTextWhenAbsent) {
  std::unique_ptr<Tokenizer> llama3 = LoadFixture("bpe_llama3");
  ASSERT_NE(llama3, nullptr);
  EXPECT_EQ(llama3->eot_id(), llama3->FindToken("<|eot_id|>"));
  EXPECT_TRUE(llama3->IsEndOfGeneration(llama3->eot_id()));
  EXPECT_TRUE(llama3->IsEndOfGeneration(llama3->eos_id()));
  EXPECT_FALSE(llama3->IsEndOfGeneration(llama3->bos_id()));

  std::unique_ptr<Tokenizer> qwen2 = LoadFixture("bpe_qwen2");
  ASSERT_NE(qwen2, nullptr);
  EXPECT_EQ(qwen2->eot_id(), qwen2->FindToken("<|im_end|>"));
  EXPECT_TRUE(qwen2->IsEndOfGeneration(*qwen2->FindToken("<|endoftext|>")));
  EXPECT_FALSE(qwen2->IsEndOfGeneration(*qwen2->FindToken("<|im_start|>")));
}

TEST(TokenizerTest, InvalidIdsDecodeToNothing) {
  std::unique_ptr<Tokenizer> tok = LoadFixture("bpe_gpt2");
  ASSERT_NE(tok, nullptr);
  EXPECT_FALSE(tok->IsValidId(-1));
  EXPECT_FALSE(tok->IsValidId(tok->vocab_size()));
  EXPECT_EQ(tok->TokenToPiece(-7), "");
  const std::vector<int32_t> ids = {-5, tok->vocab_size(), 1 << 30};
  EXPECT_EQ(tok->Decode(ids, false), "");
  EXPECT_FALSE(tok->FindToken("no such token text").has_value());
}

TEST(TokenizerTest, IllFormedUtf8InputRoundTripsToItsRepair) {
  const std::string bad = "\xFF\xFE abc \xE2\x82 d\xC3";
  const std::string repaired =
      kReplacement + kReplacement + " abc " + kReplacement + " d" + kReplacement;
  for (const char* name : {"bpe_gpt2", "bpe_qwen2", "bpe_llama3", "bpe_default", "spm"}) {
    std::unique_ptr<Tokenizer> tok = LoadFixture(name);
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->Decode(tok->Encode(bad, false, false), true), repaired) << name;
  }
}

// Random bytes (often ill-formed UTF-8, with special-token texts mixed in) and random ids,
// including invalid ones: nothing may crash, decoded text is always valid UTF-8, and encoding
// then decoding gives back the input with ill-formed sequences replaced by U+FFFD. (U+2581 is
// left out: SentencePiece reads it as a space, by design.)
TEST(TokenizerTest, RandomInputsRoundTripAndNeverCrash) {
  // clang-format off
  const std::vector<std::string> alphabet = {
      "a", "Z", " ", "  ", "\n", "\t", "'s", "7", "\xC3\xA9", "\xE4\xBD\xA0", kGrinning,
      "\xE2\x80\x8D", "\xF0\x9F", "\x80", "\xFF", "\xC0\xAF", "\xED\xA0\x80", "<s>", "</s>",
      "<|endoftext|>", "<|im_start|>", "[TOOL]", std::string(1, '\0')};
  // clang-format on
  std::mt19937 rng(20261128);
  for (const char* name : {"bpe_gpt2", "bpe_qwen2", "bpe_llama3", "bpe_default", "spm"}) {
    std::unique_ptr<Tokenizer> tok = LoadFixture(name);
    ASSERT_NE(tok, nullptr);
    for (int iteration = 0; iteration < 2000; ++iteration) {
      std::string text;
      const int n = static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
      std::string repaired;
      internal::AppendRepairedUtf8(text, /*final=*/true, &repaired);
      const std::vector<int32_t> ids = tok->Encode(text, /*add_special=*/false, false);
      ASSERT_EQ(tok->Decode(ids, /*skip_special=*/false), repaired) << name << " #" << iteration;
      const std::vector<int32_t> special_ids = tok->Encode(text, true, true);
      EXPECT_TRUE(IsValidUtf8(tok->Decode(special_ids, true)));

      std::vector<int32_t> random_ids(rng() % 10);
      for (int32_t& id : random_ids) id = static_cast<int32_t>(rng() % (tok->vocab_size() + 4)) - 2;
      for (bool skip : {true, false}) {
        const std::string decoded = tok->Decode(random_ids, skip);
        ASSERT_TRUE(IsValidUtf8(decoded));
        StreamingDetokenizer detok(*tok, skip, /*sequence_start=*/true);
        std::string streamed;
        for (int32_t id : random_ids) streamed += detok.Push(id);
        ASSERT_EQ(streamed + detok.Flush(), decoded) << name << " #" << iteration;
      }
    }
  }
}

// MaxBytesPerToken bounds how many input bytes a token stands for: over random inputs (special
// tokens parsed, BOS added), tokens * bound >= bytes. A vocabulary that drops bytes has no bound.
TEST(TokenizerTest, MaxBytesPerTokenBoundsEveryEncoding) {
  const std::vector<std::string> alphabet = {
      "a", "Z", " ", "  ", "\n", "'s", "7", "\xC3\xA9", "\xE4\xBD\xA0", kGrinning, "\x80", "\xFF",
      "<s>", "</s>", "<|endoftext|>", "<|im_start|>", "the", " the", "ing", "        "};
  std::mt19937 rng(7);
  for (const char* name : {"bpe_gpt2", "bpe_qwen2", "bpe_llama3", "bpe_default", "spm"}) {
    std::unique_ptr<Tokenizer> tok = LoadFixture(name);
    ASSERT_NE(tok, nullptr);
    const int64_t bound = tok->MaxBytesPerToken();
    ASSERT_GT(bound, 0) << name;
    for (int iteration = 0; iteration < 500; ++iteration) {
      std::string text;
      const int n = 1 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
      const std::vector<int32_t> ids = tok->Encode(text, /*add_special=*/false, /*parse_special=*/true);
      // + 1: SentencePiece's dummy-prefix space is input the text did not have.
      EXPECT_GE(static_cast<int64_t>(ids.size()) * bound + 1, static_cast<int64_t>(text.size()))
          << name << " #" << iteration << ": " << ids.size() << " tokens for " << text.size() << " bytes";
    }
  }
  // "a", "b", "ab" only: any other byte becomes no token at all.
  absl::StatusOr<std::unique_ptr<Tokenizer>> small = Tokenizer::Create(SmallBpeVocab());
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ((*small)->MaxBytesPerToken(), 0);
  EXPECT_TRUE((*small)->Encode("xyz", false, false).empty());
}

// --- streaming -------------------------------------------------------------------------------

std::vector<int32_t> ByteTokens(const Tokenizer& tok, const std::string& bytes, bool spm) {
  std::vector<int32_t> ids;
  for (unsigned char b : bytes) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const std::string text =
        spm ? std::string(name) : internal::ByteLevelEncode(std::string(1, static_cast<char>(b)));
    const std::optional<int32_t> id = tok.FindToken(text);
    EXPECT_TRUE(id.has_value()) << text;
    ids.push_back(id.value_or(0));
  }
  return ids;
}

TEST(StreamingDetokenizerTest, HoldsBackEmojiSplitAcrossByteTokens) {
  for (const char* name : {"spm", "bpe_qwen2"}) {
    std::unique_ptr<Tokenizer> tok = LoadFixture(name);
    ASSERT_NE(tok, nullptr);
    const bool spm = std::string(name) == "spm";
    // A ZWJ family: four emoji joined by U+200D, every byte a separate token.
    const std::string family =
        "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";
    std::vector<int32_t> ids = ByteTokens(*tok, kGrinning + family, spm);
    StreamingDetokenizer detok(*tok, /*skip_special=*/true, /*sequence_start=*/false);
    std::vector<std::string> chunks;
    for (int32_t id : ids) chunks.push_back(detok.Push(id));
    EXPECT_EQ(chunks[0], "");
    EXPECT_EQ(chunks[1], "");
    EXPECT_EQ(chunks[2], "");
    EXPECT_EQ(chunks[3], kGrinning);
    EXPECT_EQ(chunks[7], "\xF0\x9F\x91\xA8");  // the man completes with his fourth byte
    std::string all;
    for (const std::string& c : chunks) all += c;
    EXPECT_EQ(all + detok.Flush(), kGrinning + family);
  }
}

TEST(StreamingDetokenizerTest, ReplacesIllFormedBytesAsSoonAsTheyAreKnownBad) {
  std::unique_ptr<Tokenizer> tok = LoadFixture("spm");
  ASSERT_NE(tok, nullptr);
  StreamingDetokenizer detok(*tok, true, false);
  const std::vector<int32_t> ids = ByteTokens(*tok,
                                              "\xF0"
                                              "A\xE2\x82",
                                              /*spm=*/true);
  EXPECT_EQ(detok.Push(ids[0]), "");                  // could still become a character
  EXPECT_EQ(detok.Push(ids[1]), kReplacement + "A");  // 'A' cannot continue it
  EXPECT_EQ(detok.Push(ids[2]), "");
  EXPECT_EQ(detok.Push(ids[3]), "");
  EXPECT_EQ(detok.Flush(), kReplacement);  // one U+FFFD for the truncated E2 82
  EXPECT_EQ(detok.Flush(), "");
}

TEST(StreamingDetokenizerTest, SpmLeadingSpaceOnlyAtSequenceStart) {
  std::unique_ptr<Tokenizer> tok = LoadFixture("spm");
  ASSERT_NE(tok, nullptr);
  const std::vector<int32_t> ids = tok->Encode("Hello world", /*add_special=*/true, false);
  ASSERT_EQ(ids[0], tok->bos_id());
  auto stream = [&](bool sequence_start) {
    StreamingDetokenizer detok(*tok, true, sequence_start);
    std::string out;
    for (int32_t id : ids) out += detok.Push(id);
    return out + detok.Flush();
  };
  EXPECT_EQ(stream(true), "Hello world");
  EXPECT_EQ(stream(true), tok->Decode(ids, true));
  EXPECT_EQ(stream(false), " Hello world");  // continuing a prompt keeps the word's space
}

}  // namespace
}  // namespace hobbit::runtime
