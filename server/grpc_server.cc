#include "server/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"
#include "server/auth_checked_service.h"
#include "server/auth_token_set.h"
#include "server/hobbit_service.h"
#include "server/tls_credentials.h"

namespace hobbit::server {
namespace {

void ApplyTransportOptions(const GrpcServerOptions& options, grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder->SetMaxSendMessageSize(options.max_send_message_bytes);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_seconds * 1000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                              options.keepalive_timeout_seconds * 1000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                              options.permit_keepalive_without_calls ? 1 : 0);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              options.min_client_ping_interval_seconds * 1000);
  // Long generations send no data while prefilling: never cap pings without data.
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Two daemons on one port must be an error, not a silent split of the traffic.
  builder->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options,
                                                              ServingState* state) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  // Bad TLS files or tokens stop the daemon here, before the model loads, naming the file.
  HOBBIT_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                          MakeTlsCredentials(options.tls));
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->service_ = std::make_unique<HobbitService>(state);
  grpc::Service* hobbit_service = server->service_.get();
  server->security_ = !options.tls.enabled()               ? "plaintext"
                      : options.tls.client_ca_file.empty() ? "TLS"
                                                           : "mTLS";
  if (!options.auth.tokens_file.empty()) {
    HOBBIT_ASSIGN_OR_RETURN(AuthTokenSet tokens, AuthTokenSet::Load(options.auth.tokens_file));
    server->tokens_ = std::make_unique<AuthTokenSet>(std::move(tokens));
    server->auth_service_ =
        std::make_unique<AuthCheckedService>(server->service_.get(), server->tokens_.get());
    hobbit_service = server->auth_service_.get();
    absl::StrAppend(&server->security_, ", bearer tokens (", server->tokens_->size(), ")");
  }
  grpc::ServerBuilder builder;
  ApplyTransportOptions(options, &builder);
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.RegisterService(hobbit_service);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("server.listen: cannot listen on '", options.listen,
                     "' (address in use, not a local address, or no permission)"));
  }
  server->SetServing(false);
  return server;
}

GrpcServer::~GrpcServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

void GrpcServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  health->SetServingStatus(hobbit::v1::Hobbit::service_full_name(), serving);
}

void GrpcServer::Shutdown(absl::Time deadline) {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
  server_.reset();
}

}  // namespace hobbit::server
