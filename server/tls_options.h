// TlsOptions: the `tls:` section of hobbitd.yaml, which turns the gRPC listener into a TLS one
// and, with client_ca_file, requires client certificates (mTLS). Plain data; MakeTlsCredentials
// (tls_credentials.h) checks the files and builds the gRPC credentials.
#pragma once

#include <string>

namespace hobbit::server {

struct TlsOptions {
  // PEM certificate chain the server presents; with key_file it turns TLS on.
  std::string cert_file;
  // PEM private key of that certificate; must match it (hobbitd refuses to start otherwise).
  std::string key_file;
  // PEM CA bundle; when set, every client must present a certificate this CA signed (mTLS).
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

}  // namespace hobbit::server
