#include "runtime/gguf/gguf_value.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hobbit::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using T = GgufValueType;

TEST(GgufValueTest, IntegerScalarsOfEveryWidthReadAsInt) {
  EXPECT_EQ(GgufValue::Uint8(255).AsInt(), 255);
  EXPECT_EQ(GgufValue::Int8(-128).AsInt(), -128);
  EXPECT_EQ(GgufValue::Uint16(65535).AsInt(), 65535);
  EXPECT_EQ(GgufValue::Int16(-32768).AsInt(), -32768);
  EXPECT_EQ(GgufValue::Uint32(4294967295u).AsInt(), 4294967295);
  EXPECT_EQ(GgufValue::Int32(-5).AsInt(), -5);
  EXPECT_EQ(GgufValue::Int64(std::numeric_limits<int64_t>::min()).AsInt(),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(GgufValue::Uint64(uint64_t{1} << 62).AsInt(), int64_t{1} << 62);
  EXPECT_EQ(GgufValue::Bool(true).AsInt(), 1);
  EXPECT_EQ(GgufValue::Uint32(7).type(), T::kUint32);
  EXPECT_EQ(GgufValue::Uint32(7).array_size(), 0u);
}

TEST(GgufValueTest, Uint64AboveInt64MaxIsNotAnInt) {
  GgufValue v = GgufValue::Uint64(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(v.AsInt(), std::nullopt);
  EXPECT_EQ(v.AsUint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(GgufValue::Int32(-1).AsUint64(), std::nullopt);
}

TEST(GgufValueTest, FloatsBoolsAndStrings) {
  EXPECT_EQ(GgufValue::Float32(0.5f).AsFloat(), 0.5);
  EXPECT_EQ(GgufValue::Float64(1e300).AsFloat(), 1e300);
  EXPECT_EQ(GgufValue::Int32(-3).AsFloat(), -3.0);
  EXPECT_EQ(GgufValue::Float32(1.0f).AsInt(), std::nullopt);
  EXPECT_EQ(GgufValue::Bool(false).AsBool(), false);
  EXPECT_EQ(GgufValue::Uint8(1).AsBool(), std::nullopt);
  EXPECT_EQ(GgufValue::Bool(true).AsFloat(), std::nullopt);
  ASSERT_NE(GgufValue::String("llama").AsString(), nullptr);
  EXPECT_EQ(*GgufValue::String("llama").AsString(), "llama");
  EXPECT_EQ(GgufValue::Int32(1).AsString(), nullptr);
  EXPECT_EQ(GgufValue::String("1").AsInt(), std::nullopt);
}

TEST(GgufValueTest, Arrays) {
  GgufValue ints = GgufValue::Int32Array({1, -2, 3});
  EXPECT_EQ(ints.type(), T::kArray);
  EXPECT_EQ(ints.array_type(), T::kInt32);
  EXPECT_EQ(ints.array_size(), 3u);
  EXPECT_THAT(*ints.AsIntArray(), ElementsAre(1, -2, 3));
  EXPECT_THAT(*ints.AsFloatArray(), ElementsAre(1.0f, -2.0f, 3.0f));
  EXPECT_EQ(ints.AsInt(), std::nullopt);
  EXPECT_EQ(ints.AsStringArray(), nullptr);

  GgufValue floats = GgufValue::Float32Array({0.25f, -1.0f});
  EXPECT_THAT(*floats.AsFloatArray(), ElementsAre(0.25f, -1.0f));
  EXPECT_EQ(floats.AsIntArray(), std::nullopt);

  GgufValue strings = GgufValue::StringArray({"a", "", "c"});
  ASSERT_NE(strings.AsStringArray(), nullptr);
  EXPECT_THAT(*strings.AsStringArray(), ElementsAre("a", "", "c"));
  EXPECT_EQ(strings.AsFloatArray(), std::nullopt);

  GgufValue big = GgufValue::Uint64Array({1, std::numeric_limits<uint64_t>::max()});
  EXPECT_EQ(big.AsIntArray(), std::nullopt);
  EXPECT_THAT(*big.AsUint64Array(), ElementsAre(1u, std::numeric_limits<uint64_t>::max()));

  GgufValue bools = GgufValue::BoolArray({true, false});
  EXPECT_THAT(*bools.AsIntArray(), ElementsAre(1, 0));
  EXPECT_EQ(bools.AsFloatArray(), std::nullopt);
  EXPECT_EQ(GgufValue::Int8Array({}).array_size(), 0u);
}

TEST(GgufValueTest, DebugStringIsShort) {
  EXPECT_EQ(GgufValue::Uint32(32).DebugString(), "u32 32");
  EXPECT_EQ(GgufValue::String("llama").DebugString(), "str \"llama\"");
  EXPECT_EQ(GgufValue::Bool(true).DebugString(), "bool true");
  EXPECT_EQ(GgufValue::StringArray({"<unk>", "<s>"}).DebugString(),
            "arr[str,2] [\"<unk>\", \"<s>\"]");
  std::vector<int32_t> many(1000, 7);
  std::string s = GgufValue::Int32Array(many).DebugString();
  EXPECT_EQ(s, "arr[i32,1000] [7, 7, 7, 7, ...]");
  std::string long_string(10000, 'x');
  EXPECT_LT(GgufValue::String(long_string).DebugString().size(), 100u);
  EXPECT_THAT(GgufValue::String(long_string).DebugString(), HasSubstr("10000 bytes"));
}

TEST(GgufValueTest, Equality) {
  EXPECT_EQ(GgufValue::Int32(3), GgufValue::Int32(3));
  EXPECT_FALSE(GgufValue::Int32(3) == GgufValue::Uint32(3));
  EXPECT_EQ(GgufValue::StringArray({"a"}), GgufValue::StringArray({"a"}));
  EXPECT_FALSE(GgufValue::Float32Array({1.0f}) == GgufValue::Float64Array({1.0}));
}

}  // namespace
}  // namespace hobbit::runtime
