#include "tools/hobbit_tool/flag_parser.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hobbit::tools {

void FlagParser::Add(std::string name, std::string help, bool required, bool is_switch, std::string default_value) {
  order_.push_back(name);
  flags_[name] = Flag{std::move(help), required, is_switch, std::move(default_value)};
}

absl::Status FlagParser::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      return absl::OkStatus();
    }
    if (a.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(command_, ": unexpected argument '", a, "' (flags start with --)"));
    }
    const std::string_view body = std::string_view(a).substr(2);
    const size_t eq = body.find('=');
    const std::string name(body.substr(0, eq));
    std::optional<std::string> value;
    if (eq != std::string_view::npos) value = std::string(body.substr(eq + 1));
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(command_, ": unknown flag --", name, " (see --help)"));
    }
    if (it->second.is_switch) {
      if (value) return absl::InvalidArgumentError(absl::StrCat(command_, ": --", name, " takes no value"));
      values_[name].assign(1, '1');  // (not = "1": GCC 12 -Wrestrict false positive)
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(command_, ": --", name, " needs a value"));
      value = args[++i];
    }
    values_[name] = *value;
    all_values_[name].push_back(*value);
  }
  for (const auto& [name, flag] : flags_) {
    if (flag.required && !values_.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(command_, ": --", name, " is required (see --help)"));
    }
  }
  return absl::OkStatus();
}

std::optional<int> FlagParser::ParseOrExit(const std::vector<std::string>& args) {
  const absl::Status s = Parse(args);
  if (!s.ok()) {
    std::fprintf(stderr, "hobbit-tool %s\n%s", std::string(s.message()).c_str(), Usage().c_str());
    return 2;
  }
  if (help_) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  return std::nullopt;
}

std::string FlagParser::Usage() const {
  std::string out = absl::StrCat("usage: hobbit-tool ", command_, " [flags]\n");
  for (const std::string& name : order_) {
    const Flag& f = flags_.at(name);
    absl::StrAppend(&out, "  --", name, f.is_switch ? "" : " VALUE", "\t", f.help, f.required ? " (required)" : "",
                    f.default_value.empty() ? "" : absl::StrCat(" [default ", f.default_value, "]"), "\n");
  }
  return out;
}

bool FlagParser::Has(const std::string& name) const { return values_.count(name) > 0; }

std::string FlagParser::GetString(const std::string& name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (auto it = flags_.find(name); it != flags_.end()) return it->second.default_value;
  return "";
}

std::vector<std::string> FlagParser::GetAll(const std::string& name) const {
  auto it = all_values_.find(name);
  return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

absl::StatusOr<int64_t> FlagParser::GetInt(const std::string& name, int64_t lo, int64_t hi) const {
  const std::string text = GetString(name);
  int64_t v;
  if (!absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " wants an integer, got '", text, "'"));
  }
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " = ", v, " is out of range [", lo, ", ", hi, "]"));
  }
  return v;
}

absl::StatusOr<double> FlagParser::GetDouble(const std::string& name) const {
  const std::string text = GetString(name);
  double v;
  if (!absl::SimpleAtod(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " wants a number, got '", text, "'"));
  }
  return v;
}

absl::StatusOr<std::vector<int32_t>> ParseIntList(const std::string& text, const std::string& flag) {
  std::vector<int32_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int32_t v;
    if (!absl::SimpleAtoi(part, &v)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", part, "' is not an integer"));
    }
    out.push_back(v);
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": no values"));
  return out;
}

}  // namespace hobbit::tools
