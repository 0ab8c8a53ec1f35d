// MakeTlsCredentials: the gRPC server credentials for TlsOptions, after checking that every
// configured file is readable PEM and that the private key belongs to the certificate, so a
// misconfigured daemon stops at start-up with the file named instead of failing handshakes.
//
//   HOBBIT_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
//                           MakeTlsCredentials(options.tls));
//   builder.AddListeningPort(options.listen, credentials, &port);
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "server/tls_options.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace hobbit::server {

// Insecure credentials when `options` has TLS off; TLS (and mTLS with client_ca_file) otherwise.
// Errors are InvalidArgument naming the key and the file: unreadable, not PEM, only one of
// cert_file/key_file set, or a key that does not match the certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeTlsCredentials(
    const TlsOptions& options);

}  // namespace hobbit::server
