#include "tests/integration/daemon_process.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include <gtest/gtest.h>
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace hobbit::integration {

namespace v1 = ::hobbit::v1;

std::string BuildBinary(const std::string& name) {
  return absl::StrCat(HOBBIT_BINARY_DIR, "/bin/", name);
}

StreamResult RunGenerate(v1::Hobbit::Stub* stub, const v1::GenerateRequest& request,
                         std::optional<absl::Duration> timeout) {
  StreamResult result;
  grpc::ClientContext context;
  if (timeout) context.set_deadline(absl::ToChronoTime(absl::Now() + *timeout));
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub->Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    if (response.has_chunk()) {
      ++result.chunks;
      result.tokens.insert(result.tokens.end(), response.chunk().token_ids().begin(),
                           response.chunk().token_ids().end());
      result.text += response.chunk().text();
    } else if (response.has_final()) {
      result.final = response.final();
    }
  }
  result.status = reader->Finish();
  return result;
}

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(const std::string& yaml) {
  return Start(yaml, grpc::InsecureChannelCredentials());
}

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(
    const std::string& yaml, std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& target_name) {
  static std::atomic<int> counter{0};
  std::unique_ptr<DaemonProcess> daemon(new DaemonProcess());
  daemon->credentials_ = std::move(credentials);
  daemon->target_name_ = target_name;
  daemon->config_path_ = absl::StrCat(::testing::TempDir(), "hobbitd_it_", getpid(), "_",
                                      counter++, ".yaml");
  {
    std::ofstream out(daemon->config_path_);
    out << "model:\n  path: " << kTestModel << "\n" << yaml;
    // hobbitd's default metrics port is fixed (9464); tests pick a free one so daemons started
    // side by side (and a hobbitd already running on the machine) never collide.
    if (yaml.find("metrics:") == std::string::npos) out << "metrics:\n  listen: 127.0.0.1:0\n";
  }
  auto process = Subprocess::Start({BuildBinary("hobbitd"), "--config", daemon->config_path_,
                                    "--listen", "127.0.0.1:0"});
  if (!process.ok()) return process.status();
  daemon->process_ = std::move(*process);
  if (!daemon->process_->WaitForOutput("listening on 127.0.0.1:", absl::Seconds(30))) {
    return absl::InternalError(absl::StrCat("hobbitd did not start:\n",
                                            daemon->process_->stderr_text()));
  }
  // "listening on 127.0.0.1:PORT" names the port hobbitd picked.
  std::string log = daemon->process_->stderr_text();
  size_t at = log.find("listening on ") + std::strlen("listening on ");
  size_t end = log.find_first_not_of("0123456789.:", at);
  daemon->address_ = log.substr(at, end == std::string::npos ? std::string::npos : end - at);
  daemon->stub_ = daemon->NewStub();

  auto health = grpc::health::v1::Health::NewStub(daemon->NewChannel());
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return daemon;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("hobbitd never reported SERVING:\n",
                                                  daemon->process_->stderr_text()));
}

DaemonProcess::~DaemonProcess() {
  if (process_ != nullptr) {
    process_->Signal(SIGTERM);
    (void)process_->Wait(absl::Seconds(30));
  }
  if (!config_path_.empty()) unlink(config_path_.c_str());
}

std::shared_ptr<grpc::Channel> DaemonProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection of its own
  if (!target_name_.empty()) args.SetSslTargetNameOverride(target_name_);
  return grpc::CreateCustomChannel(address_, credentials_, args);
}

std::unique_ptr<v1::Hobbit::Stub> DaemonProcess::NewStub() const {
  // Connected before it is handed out: a fresh channel's first connect can fail transiently when
  // many are opened at once on a loaded machine (seen once in CI: 16 threads, one call failed
  // "failed to connect to all addresses"), and an RPC on it would fail fast instead of retrying.
  std::shared_ptr<grpc::Channel> channel = NewChannel();
  channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  return v1::Hobbit::NewStub(channel);
}

v1::GetCacheStatsResponse DaemonProcess::Stats() {
  grpc::ClientContext context;
  v1::GetCacheStatsResponse stats;
  grpc::Status status = stub_->GetCacheStats(&context, v1::GetCacheStatsRequest(), &stats);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return stats;
}

bool DaemonProcess::WaitIdle(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    v1::GetCacheStatsResponse stats = Stats();
    if (stats.running() == 0 && stats.waiting() == 0 && stats.kv_blocks_used() == 0) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace hobbit::integration
