#include "server/command_line_flags.h"

#include <gtest/gtest.h>

#include <vector>

namespace hobbit::server {
namespace {

absl::StatusOr<CommandLineFlags> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "hobbitd");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(CommandLineFlagsTest, NoArgumentsSetsNothing) {
  absl::StatusOr<CommandLineFlags> flags = Parse({});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_FALSE(flags->config_path.has_value());
  EXPECT_FALSE(flags->model_path.has_value());
  EXPECT_FALSE(flags->help);
}

TEST(CommandLineFlagsTest, SpaceAndEqualsFormsBothWork) {
  absl::StatusOr<CommandLineFlags> flags =
      Parse({"--config", "a.yaml", "--model=m.gguf", "--listen", "0.0.0.0:1", "--metrics-listen=:2",
             "--backend", "cpu", "--cpu-threads=3", "--log-level", "debug"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(*flags->config_path, "a.yaml");
  EXPECT_EQ(*flags->model_path, "m.gguf");
  EXPECT_EQ(*flags->listen, "0.0.0.0:1");
  EXPECT_EQ(*flags->metrics_listen, ":2");
  EXPECT_EQ(*flags->backend, "cpu");
  EXPECT_EQ(*flags->cpu_threads, "3");
  EXPECT_EQ(*flags->log_level, "debug");
}

TEST(CommandLineFlagsTest, HelpAndVersion) {
  EXPECT_TRUE(Parse({"--help"})->help);
  EXPECT_TRUE(Parse({"-h"})->help);
  EXPECT_TRUE(Parse({"--version"})->version);
  EXPECT_NE(CommandLineHelp().find("--metrics-listen"), std::string::npos);
}

TEST(CommandLineFlagsTest, UnknownFlagIsNamed) {
  absl::StatusOr<CommandLineFlags> flags = Parse({"--modle", "x"});
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(flags.status().message().find("'--modle'"), absl::string_view::npos)
      << flags.status();
}

TEST(CommandLineFlagsTest, MissingValueIsNamed) {
  absl::StatusOr<CommandLineFlags> flags = Parse({"--listen"});
  ASSERT_FALSE(flags.ok());
  EXPECT_NE(flags.status().message().find("--listen needs a value"), absl::string_view::npos);
}

TEST(CommandLineFlagsTest, RepeatedFlagIsAnError) {
  absl::StatusOr<CommandLineFlags> flags = Parse({"--model", "a", "--model=b"});
  ASSERT_FALSE(flags.ok());
  EXPECT_NE(flags.status().message().find("--model is given twice"), absl::string_view::npos);
}

}  // namespace
}  // namespace hobbit::server
