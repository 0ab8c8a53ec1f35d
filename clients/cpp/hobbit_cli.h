// HobbitCli: runs one `hobbit` command against a hobbitd server through the generated hobbit.v1
// stub. Output goes to the given streams so tests can capture it.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "clients/cpp/cli_options.h"
#include "hobbit/v1/hobbit.grpc.pb.h"

namespace hobbit::cli {

// Single-threaded; one instance per process.
class HobbitCli {
 public:
  HobbitCli(const CliOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

  // Returns the process exit code: 0 success, 1 an RPC failed, 2 a TLS or token file is
  // unreadable.
  int Run();

 private:
  int Generate();
  int Chat();
  int Info();
  int Stats();
  int Tokenize();

  // Streams one generation; text to out_, the final statistics to err_. Returns the generated
  // text through `text` (for chat history) and whether the call succeeded.
  bool Stream(hobbit::v1::GenerateRequest request, std::string* text);
  void ApplySampling(hobbit::v1::GenerateRequest* request) const;
  // Builds the channel (TLS when --tls-ca is given) and reads the token; 0 or the exit code.
  int Connect();
  // The bearer token and the deadline, for every call.
  void PrepareContext(grpc::ClientContext* context) const;
  int Fail(const grpc::Status& status) const;

  const CliOptions options_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<hobbit::v1::Hobbit::Stub> stub_;  // set by Connect
  std::string authorization_;                        // "Bearer <token>" or empty
};

}  // namespace hobbit::cli
