// DaemonProcess: a real hobbitd started for a test on a free port, with a configuration file
// written for it, and the channels and stubs to talk to it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hobbit/v1/hobbit.grpc.pb.h"
#include "tests/integration/subprocess.h"

namespace hobbit::integration {

// The model the integration tests serve (the tiny Mixtral-architecture fixture).
inline constexpr char kTestModel[] = "tests/fixtures/hf_tiny/mixtral/model-f32.gguf";

// The path of a program in the build's bin/ folder.
std::string BuildBinary(const std::string& name);

// What one Generate call returned.
struct StreamResult {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::string text;
  int chunks = 0;
  std::optional<hobbit::v1::Final> final;
};

// Reads a whole Generate stream.
StreamResult RunGenerate(hobbit::v1::Hobbit::Stub* stub, const hobbit::v1::GenerateRequest& request,
                         std::optional<absl::Duration> timeout = std::nullopt);

// Used from the test thread; stubs are thread-safe.
class DaemonProcess {
 public:
  // Writes `yaml` (model.path and server.listen are added) to a temporary file, starts hobbitd
  // on 127.0.0.1:0 and waits until grpc.health.v1 reports SERVING.
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(const std::string& yaml = "");
  // The same for a daemon with a TLS listener: `credentials` make every channel of this object
  // (the health wait's, stub()'s and NewStub()'s); `target_name` overrides the TLS host name
  // checked against the server certificate ("" checks 127.0.0.1).
  static absl::StatusOr<std::unique_ptr<DaemonProcess>> Start(
      const std::string& yaml, std::shared_ptr<grpc::ChannelCredentials> credentials,
      const std::string& target_name = "");
  ~DaemonProcess();

  const std::string& address() const { return address_; }
  hobbit::v1::Hobbit::Stub* stub() { return stub_.get(); }
  // A new channel (its own TCP connection) with this daemon's credentials.
  std::shared_ptr<grpc::Channel> NewChannel() const;
  // A stub on a new channel (its own TCP connection).
  std::unique_ptr<hobbit::v1::Hobbit::Stub> NewStub() const;
  hobbit::v1::GetCacheStatsResponse Stats();
  // Polls GetCacheStats until nothing runs, waits or holds KV blocks; false at the timeout.
  bool WaitIdle(absl::Duration timeout);
  Subprocess& process() { return *process_; }

 private:
  DaemonProcess() = default;

  std::string config_path_;
  std::string address_;
  std::unique_ptr<Subprocess> process_;
  std::unique_ptr<hobbit::v1::Hobbit::Stub> stub_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_ = grpc::InsecureChannelCredentials();
  std::string target_name_;
};

}  // namespace hobbit::integration
