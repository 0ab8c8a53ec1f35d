// SampleGguf: a small GGUF with every metadata type and a few tensors of several ggml types,
// shared by the round-trip, split and fuzz tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/gguf/gguf_writer.h"

namespace hobbit::runtime {

struct SampleTensor {
  std::string name;
  uint32_t type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> bytes;
};

class SampleGguf {
 public:
  // Every scalar type, every array element type, per-layer keys and tokenizer arrays.
  static std::vector<std::pair<std::string, GgufValue>> Metadata();
  // F32, F16, Q8_0 (3-D, expert-shaped), Q4_K and an odd-sized F32 that needs padding.
  static std::vector<SampleTensor> Tensors();
  // A writer holding Metadata() and Tensors().
  static GgufWriter MakeWriter(uint32_t version = 3, uint64_t alignment = 32);
};

}  // namespace hobbit::runtime
