// JsonWriter: builds one JSON document (objects, arrays, strings, numbers) for bench's --json.
//
//   JsonWriter w;
//   w.BeginObject();
//   w.Key("tokens_per_s"); w.Number(12.5);
//   w.EndObject();
//   std::string text = w.str();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hobbit::tools {

// Not thread-safe. The caller balances Begin/End and puts a Key before each member of an
// object; the output is compact (no indentation).
class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(std::string_view key);
  void String(std::string_view value);
  // Non-finite numbers are written as null (JSON has no NaN or infinity).
  void Number(double value);
  void Int(int64_t value);
  void Bool(bool value);

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  void AppendQuoted(std::string_view value);

  std::string out_;
  std::vector<bool> has_member_;  // per open container: whether a member was written
  bool after_key_ = false;
};

}  // namespace hobbit::tools
