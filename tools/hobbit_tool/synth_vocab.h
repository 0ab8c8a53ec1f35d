// A synthetic byte-level BPE vocabulary (GGUF tokenizer model `gpt2`, pre-tokenizer `gpt-2`)
// of any size, for random-weight models: 256 byte tokens, seeded random merges of existing
// tokens, and the special tokens. Valid for hobbit's tokenizer and llama.cpp's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hobbit::tools {

struct SynthVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // 1 normal, 3 control
  std::vector<std::string> merges;   // "left right", rank order
  int32_t bos_id = 0;
  int32_t eos_id = 0;
};

// REQUIRES: n_vocab >= 256 + the number of special tokens (5).
SynthVocab MakeSynthVocab(int32_t n_vocab, uint64_t seed);

}  // namespace hobbit::tools
