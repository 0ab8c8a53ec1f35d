// hobbitd as a service: systemd-analyze accepts deploy/systemd/hobbitd.service (pointed at the
// built binary), the unit keeps the settings CUDA and the daemon's notify protocol need, and
// `cmake --install` stages the binaries, the demo model, the unit and the default config. The
// READY/WATCHDOG/STOPPING order is lifecycle_test.cc's.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/subprocess.h"

namespace hobbit::integration {
namespace {

constexpr char kUnit[] = "deploy/systemd/hobbitd.service";

struct Verdict {
  int code = -1;
  std::string output;
};

// systemd-analyze verify on `unit_text` saved as hobbitd.service in a folder of its own.
Verdict Verify(const std::string& analyze, const std::string& unit_text) {
  std::string dir = absl::StrCat(::testing::TempDir(), "hobbit_unit_", getpid());
  std::filesystem::create_directories(dir);
  std::string path = dir + "/hobbitd.service";
  std::ofstream(path) << unit_text;
  Verdict verdict;
  auto process = Subprocess::Start({analyze, "verify", path});
  if (!process.ok()) return verdict;
  absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(60));
  verdict.code = code.ok() ? *code : -1;
  verdict.output = (*process)->stdout_text() + (*process)->stderr_text();
  std::filesystem::remove_all(dir);
  return verdict;
}

// Lines about our unit file (systemd-analyze also reports on unrelated host units).
std::vector<std::string> LinesAbout(const std::string& output) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StrContains(line, "hobbitd.service")) lines.emplace_back(line);
  }
  return lines;
}

TEST(ServiceTest, SystemdAnalyzeAcceptsTheUnit) {
  const std::string analyze = FindProgram("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "systemd-analyze is not installed";
  // systemd-analyze checks that ExecStart names an executable: use the one just built.
  const std::string unit = absl::StrReplaceAll(
      ReadFile(kUnit), {{"ExecStart=/usr/bin/hobbitd", "ExecStart=" + BuildBinary("hobbitd")}});
  ASSERT_TRUE(absl::StrContains(unit, "ExecStart=" + BuildBinary("hobbitd")));

  Verdict accepted = Verify(analyze, unit);
  EXPECT_EQ(accepted.code, 0) << accepted.output;
  EXPECT_TRUE(LinesAbout(accepted.output).empty()) << accepted.output;

  // The same check flags a misspelt key, so a silent pass above means something.
  Verdict flagged =
      Verify(analyze, absl::StrReplaceAll(unit, {{"NoNewPrivileges=", "NoNewPrivilege="}}));
  EXPECT_FALSE(LinesAbout(flagged.output).empty()) << flagged.output;
}

TEST(ServiceTest, UnitKeepsNotifyWatchdogAndTheGpuReachable) {
  std::vector<std::string> lines = absl::StrSplit(ReadFile(kUnit), '\n');
  auto has = [&](const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  };
  for (const char* expected :
       {"Type=notify", "NotifyAccess=main", "Restart=on-failure", "DynamicUser=yes",
        "StateDirectory=hobbit", "ConfigurationDirectory=hobbit", "ProtectSystem=strict",
        "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "DevicePolicy=closed",
        "DeviceAllow=/dev/nvidiactl rw", "DeviceAllow=/dev/nvidia0 rw",
        "DeviceAllow=/dev/nvidia-uvm rw", "DeviceAllow=/dev/nvidia-uvm-tools rw",
        "SupplementaryGroups=video render", "LimitMEMLOCK=infinity",
        "ExecStart=/usr/bin/hobbitd --config /etc/hobbit/hobbitd.yaml"}) {
    EXPECT_TRUE(has(expected)) << "the unit lacks the line '" << expected << "'";
  }
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return absl::StartsWith(l, "WatchdogSec=");
  }));
  // PrivateDevices=yes hides /dev/nvidia* and CUDA finds no GPU.
  for (const std::string& line : lines) EXPECT_FALSE(absl::StartsWith(line, "PrivateDevices="));
}

TEST(ServiceTest, InstallStagesBinariesModelUnitAndConfig) {
  const std::string stage = absl::StrCat(::testing::TempDir(), "hobbit_install_", getpid());
  std::filesystem::remove_all(stage);
  // DESTDIR, not --prefix: the unit names the configured prefix's paths.
  ASSERT_EQ(setenv("DESTDIR", stage.c_str(), 1), 0);
  auto process = Subprocess::Start({HOBBIT_CMAKE_COMMAND, "--install", HOBBIT_BINARY_DIR});
  unsetenv("DESTDIR");
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(300));
  ASSERT_TRUE(code.ok());
  ASSERT_EQ(*code, 0) << (*process)->stdout_text() << (*process)->stderr_text();

  const std::string prefix = stage + HOBBIT_INSTALL_PREFIX;
  const std::string config_dir = stage + HOBBIT_INSTALL_CONFIG_DIR;
  for (const std::string& file :
       {prefix + "/bin/hobbitd", prefix + "/bin/hobbit", prefix + "/bin/hobbit-tool"}) {
    EXPECT_EQ(access(file.c_str(), X_OK), 0) << file << " is not an installed executable";
  }
  EXPECT_TRUE(
      std::filesystem::is_regular_file(prefix + "/share/hobbit/models/hobbit-demo-q8_0.gguf"));

  const std::string unit_dir = HOBBIT_SYSTEMD_UNIT_DIR[0] == '/'
                                   ? stage + HOBBIT_SYSTEMD_UNIT_DIR
                                   : absl::StrCat(prefix, "/", HOBBIT_SYSTEMD_UNIT_DIR);
  const std::string unit = ReadFile(unit_dir + "/hobbitd.service");
  EXPECT_TRUE(absl::StrContains(
      unit, absl::StrCat("ExecStart=", HOBBIT_INSTALL_PREFIX, "/bin/hobbitd --config ",
                         HOBBIT_INSTALL_CONFIG_DIR, "/hobbitd.yaml")))
      << unit;
  const std::string config = ReadFile(config_dir + "/hobbitd.yaml");
  EXPECT_TRUE(absl::StrContains(config, "state_dir: /var/lib/hobbit")) << config;
  std::filesystem::remove_all(stage);
}

}  // namespace
}  // namespace hobbit::integration
