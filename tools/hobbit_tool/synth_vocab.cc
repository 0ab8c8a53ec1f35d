#include "tools/hobbit_tool/synth_vocab.h"

#include <random>
#include <string>
#include <unordered_set>

namespace hobbit::tools {
namespace {

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// GPT-2's printable stand-in for each byte: printable Latin-1 bytes map to themselves, the
// others to code points from 256 up.
std::vector<std::string> ByteTokens() {
  std::vector<std::string> out(256);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    AppendUtf8(out[b], printable ? b : next++);
  }
  return out;
}

}  // namespace

SynthVocab MakeSynthVocab(int32_t n_vocab, uint64_t seed) {
  const std::vector<std::string> specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>"};
  SynthVocab v;
  v.tokens = ByteTokens();
  std::unordered_set<std::string> seen(v.tokens.begin(), v.tokens.end());
  // Merges favour letters, digits and the space stand-in ('Ġ' = byte 32) so the pieces look
  // like words; any pair of existing tokens is a valid merge.
  std::string alphabet = "etaoinshrdlcumwfgypbvkjxqz_ETAOINSHRDLC0123456789.,():=";
  std::vector<int32_t> pool;
  for (char c : alphabet) pool.push_back(static_cast<unsigned char>(c));
  pool.push_back(32);  // space
  pool.push_back(10);  // newline
  std::mt19937_64 rng(seed);
  const int32_t n_normal = n_vocab - static_cast<int32_t>(specials.size());
  int32_t attempts = 0;
  while (static_cast<int32_t>(v.tokens.size()) < n_normal && attempts < 50 * n_vocab) {
    ++attempts;
    const int32_t a = pool[rng() % pool.size()];
    const int32_t b = pool[rng() % pool.size()];
    std::string merged = v.tokens[a] + v.tokens[b];
    if (merged.size() > 24 || !seen.insert(merged).second) continue;
    v.merges.push_back(v.tokens[a] + " " + v.tokens[b]);
    pool.push_back(static_cast<int32_t>(v.tokens.size()));
    v.tokens.push_back(std::move(merged));
  }
  // Should the random walk stall (tiny alphabets), pad with unmergeable filler tokens.
  v.token_types.assign(v.tokens.size(), 1);
  for (int32_t i = 0; static_cast<int32_t>(v.tokens.size()) < n_normal; ++i) {
    v.tokens.push_back("<unused" + std::to_string(i) + ">");
    v.token_types.push_back(5);
  }
  for (const std::string& s : specials) {
    v.tokens.push_back(s);
    v.token_types.push_back(3);
  }
  v.eos_id = n_normal;       // <|endoftext|>
  v.bos_id = n_normal;
  return v;
}

}  // namespace hobbit::tools
