// GrpcServer: builds and owns the gRPC server of hobbitd: the hobbit.v1.Hobbit service, the
// standard grpc.health.v1 service and server reflection, with the transport limits of
// GrpcServerOptions.
//
//   GrpcServerOptions options;                      // from hobbitd.yaml (server: ...)
//   HOBBIT_ASSIGN_OR_RETURN(auto server, GrpcServer::Start(options, &serving_state));
//   server->SetServing(true);                       // once the engine is warm
//   ...
//   server->SetServing(false);                      // draining
//   server->Shutdown(absl::Now() + absl::Seconds(5));
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth_options.h"
#include "server/tls_options.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace hobbit::server {

class ServingState;
class HobbitService;
class AuthTokenSet;

// Transport settings, chosen so that an idle edge box neither drops long generations nor keeps
// dead connections: the defaults here are the only place they are written.
struct GrpcServerOptions {
  // host:port to listen on; port 0 picks a free port (GrpcServer::port() says which).
  std::string listen = "127.0.0.1:50051";
  // Largest request accepted (a long prompt as token ids is ~5 bytes per token).
  int32_t max_receive_message_bytes = 16 << 20;
  // Largest response sent (a chunk with logprobs stays far below this).
  int32_t max_send_message_bytes = 16 << 20;
  // HTTP/2 streams one connection may have open at once.
  int32_t max_concurrent_streams = 128;
  // The server pings an idle connection this often to find dead peers.
  int32_t keepalive_time_seconds = 60;
  // A ping unanswered for this long closes the connection.
  int32_t keepalive_timeout_seconds = 20;
  // Clients may ping at most this often (more frequent pings get a GOAWAY).
  int32_t min_client_ping_interval_seconds = 10;
  // Whether clients may ping when no call is open.
  bool permit_keepalive_without_calls = true;
  // At SIGTERM, in-flight streams get this long to finish before they are aborted.
  double drain_timeout_seconds = 30.0;
  // TLS and mTLS (hobbitd.yaml `tls:`); off by default.
  TlsOptions tls;
  // Bearer tokens (hobbitd.yaml `auth:`); off by default.
  AuthOptions auth;
};

// Owns the grpc::Server. Thread-safe after Start.
class GrpcServer {
 public:
  // Binds, registers the services and starts serving (health NOT_SERVING until SetServing).
  // `state` must outlive the server.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options,
                                                           ServingState* state);
  ~GrpcServer();

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound port (the chosen one when the options asked for port 0).
  int port() const { return port_; }

  // Sets the health status of "" and "hobbit.v1.Hobbit".
  void SetServing(bool serving);

  // Stops accepting calls, waits for in-flight calls until `deadline`, then cancels them.
  void Shutdown(absl::Time deadline);

  // How the listener is secured, for the start-up log: "plaintext" or "TLS" or "mTLS", with
  // ", bearer tokens" when they are checked. Never contains a token.
  const std::string& security() const { return security_; }

 private:
  GrpcServer() = default;

  std::unique_ptr<HobbitService> service_;
  // Set when auth.tokens_file is: the service registered in place of service_.
  std::unique_ptr<AuthTokenSet> tokens_;
  std::unique_ptr<grpc::Service> auth_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string security_;
};

}  // namespace hobbit::server
