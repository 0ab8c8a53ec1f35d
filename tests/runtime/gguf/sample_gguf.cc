#include "tests/runtime/gguf/sample_gguf.h"

#include <limits>
#include <utility>

#include "gtest/gtest.h"
#include "kernels/base/ggml_type.h"

namespace hobbit::runtime {

std::vector<std::pair<std::string, GgufValue>> SampleGguf::Metadata() {
  using L = std::numeric_limits<int64_t>;
  return {
      {"general.architecture", GgufValue::String("llama")},
      {"test.u8", GgufValue::Uint8(255)},
      {"test.i8", GgufValue::Int8(-128)},
      {"test.u16", GgufValue::Uint16(65535)},
      {"test.i16", GgufValue::Int16(-32768)},
      {"test.u32", GgufValue::Uint32(4294967295u)},
      {"test.i32", GgufValue::Int32(-2147483647 - 1)},
      {"test.u64", GgufValue::Uint64(std::numeric_limits<uint64_t>::max())},
      {"test.i64", GgufValue::Int64(L::min())},
      {"test.f32", GgufValue::Float32(0.1f)},
      {"test.f64", GgufValue::Float64(-2.5e300)},
      {"test.bool", GgufValue::Bool(true)},
      {"test.str", GgufValue::String(std::string("nul\0inside \xe2\x96\x81", 15))},
      {"test.str_empty", GgufValue::String("")},
      {"test.arr_u8", GgufValue::Uint8Array({0, 1, 255})},
      {"test.arr_i8", GgufValue::Int8Array({-128, 127})},
      {"test.arr_u16", GgufValue::Uint16Array({65535})},
      {"test.arr_i16", GgufValue::Int16Array({-32768, 1})},
      {"test.arr_u32", GgufValue::Uint32Array({4294967295u, 0})},
      {"test.arr_i32", GgufValue::Int32Array({-1, 2})},
      {"test.arr_u64", GgufValue::Uint64Array({std::numeric_limits<uint64_t>::max()})},
      {"test.arr_i64", GgufValue::Int64Array({L::min(), L::max()})},
      {"test.arr_f32", GgufValue::Float32Array({0.5f, -1e-20f})},
      {"test.arr_f64", GgufValue::Float64Array({1.0 / 3.0})},
      {"test.arr_bool", GgufValue::BoolArray({true, false, true})},
      {"test.arr_str", GgufValue::StringArray({"<unk>", "", "\xe2\x96\x81the"})},
      {"test.arr_empty", GgufValue::Float32Array({})},
      {"llama.block_count", GgufValue::Uint32(2)},
      {"llama.attention.head_count", GgufValue::Int32Array({4, 8})},
      {"llama.attention.head_count_kv", GgufValue::Uint16(2)},
      {"llama.feed_forward_length", GgufValue::Uint64Array({128, 256})},
      {"tokenizer.ggml.tokens", GgufValue::StringArray({"<s>", "</s>", "hi"})},
      {"tokenizer.ggml.scores", GgufValue::Float32Array({0.0f, -1.5f, 2.25f})},
      {"tokenizer.ggml.token_type", GgufValue::Int32Array({3, 3, 1})},
  };
}

std::vector<SampleTensor> SampleGguf::Tensors() {
  using kernels::GgmlType;
  std::vector<SampleTensor> tensors = {
      {"token_embd.weight", static_cast<uint32_t>(GgmlType::kF32), {8, 3}, {}},
      {"blk.0.attn_q.weight", static_cast<uint32_t>(GgmlType::kF16), {32, 2}, {}},
      {"blk.0.ffn_down_exps.weight", static_cast<uint32_t>(GgmlType::kQ8_0), {64, 2, 2}, {}},
      {"blk.1.ffn_up.weight", static_cast<uint32_t>(GgmlType::kQ4_K), {256, 1}, {}},
      {"output_norm.weight", static_cast<uint32_t>(GgmlType::kF32), {5}, {}},
  };
  int salt = 0;
  for (SampleTensor& t : tensors) {
    int64_t rows = 1;
    for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
    int64_t nbytes = *kernels::GgmlRowBytes(t.type, t.ne[0]) * rows;
    t.bytes.resize(static_cast<size_t>(nbytes));
    for (size_t i = 0; i < t.bytes.size(); ++i) {
      t.bytes[i] = static_cast<uint8_t>((i * 31 + static_cast<size_t>(salt) * 17 + 5) & 0xff);
    }
    ++salt;
  }
  return tensors;
}

GgufWriter SampleGguf::MakeWriter(uint32_t version, uint64_t alignment) {
  GgufWriter writer(version, alignment);
  for (auto& [key, value] : Metadata()) writer.Set(key, value);
  for (SampleTensor& t : Tensors()) {
    absl::Status s = writer.AddTensor(t.name, t.type, t.ne, t.bytes);
    EXPECT_TRUE(s.ok()) << s;
  }
  return writer;
}

}  // namespace hobbit::runtime
