// FlagParser: `--name value` / `--name=value` / `--switch` flags of one hobbit-tool subcommand.
//
// Each subcommand declares its flags; an unknown flag, a missing value or a value of the wrong
// kind is an error naming the flag, and --help prints the declared flags.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hobbit::tools {

class FlagParser {
 public:
  explicit FlagParser(std::string command) : command_(std::move(command)) {}

  // Declares a flag taking a value (or a switch when is_switch). Default "" means unset.
  void Add(std::string name, std::string help, bool required = false, bool is_switch = false,
           std::string default_value = "");

  // Parses argv after the subcommand. Positional arguments are errors.
  absl::Status Parse(const std::vector<std::string>& args);
  bool help_requested() const { return help_; }
  // Parse() for a subcommand: on --help prints the usage to stdout, on an error prints it to
  // stderr; returns the exit code to leave with (0 or 2), or nullopt to go on.
  std::optional<int> ParseOrExit(const std::vector<std::string>& args);
  std::string Usage() const;

  bool Has(const std::string& name) const;
  std::string GetString(const std::string& name) const;
  // Value errors name the flag, not the command: the command prints them after its own name.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t lo, int64_t hi) const;
  absl::StatusOr<double> GetDouble(const std::string& name) const;
  bool GetSwitch(const std::string& name) const { return Has(name); }
  // Every value of a flag given several times (e.g. --stop A --stop B), in order.
  std::vector<std::string> GetAll(const std::string& name) const;

 private:
  struct Flag {
    std::string help;
    bool required;
    bool is_switch;
    std::string default_value;
  };
  std::string command_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> values_;  // the last value of each flag
  std::map<std::string, std::vector<std::string>> all_values_;
  bool help_ = false;
};

// Parses "1,2,3" into integers; errors name the bad element.
absl::StatusOr<std::vector<int32_t>> ParseIntList(const std::string& text, const std::string& flag);

}  // namespace hobbit::tools
