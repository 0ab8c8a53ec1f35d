#include "server/tls_credentials.h"

#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"

namespace hobbit::server {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

absl::StatusOr<std::string> ReadPemFile(absl::string_view key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": cannot read '", path, "'"));
  }
  return text.str();
}

// OpenSSL's default asks for an encrypted key's passphrase on the terminal; a daemon has none.
int NoPassphrase(char* buffer, int size, int rwflag, void* user) { return 0; }

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::Status NotPem(absl::string_view key, const std::string& path, absl::string_view what) {
  ERR_clear_error();
  return absl::InvalidArgumentError(absl::StrCat(key, ": '", path, "' holds no ", what));
}

// The first certificate of `pem` (the leaf of a chain).
absl::StatusOr<std::unique_ptr<X509, X509Deleter>> ParseCertificate(absl::string_view key,
                                                                    const std::string& path,
                                                                    const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  std::unique_ptr<X509, X509Deleter> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return NotPem(key, path, "PEM certificate");
  return cert;
}

absl::Status CheckKeyMatches(const TlsOptions& options, const std::string& cert_pem,
                             const std::string& key_pem) {
  HOBBIT_ASSIGN_OR_RETURN(auto cert,
                          ParseCertificate("tls.cert_file", options.cert_file, cert_pem));
  BioPtr bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr));
  if (key == nullptr) {
    return NotPem("tls.key_file", options.key_file, "unencrypted PEM private key");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "tls.key_file: the key in '", options.key_file,
        "' does not match the certificate in tls.cert_file '", options.cert_file, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeTlsCredentials(
    const TlsOptions& options) {
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "tls.client_ca_file is set but tls.cert_file and tls.key_file are not");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls: ", options.cert_file.empty() ? "tls.cert_file" : "tls.key_file",
                     " is missing (TLS needs both tls.cert_file and tls.key_file)"));
  }
  HOBBIT_ASSIGN_OR_RETURN(std::string cert_pem, ReadPemFile("tls.cert_file", options.cert_file));
  HOBBIT_ASSIGN_OR_RETURN(std::string key_pem, ReadPemFile("tls.key_file", options.key_file));
  HOBBIT_RETURN_IF_ERROR(CheckKeyMatches(options, cert_pem, key_pem));

  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  if (!options.client_ca_file.empty()) {
    HOBBIT_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                            ReadPemFile("tls.client_ca_file", options.client_ca_file));
    HOBBIT_RETURN_IF_ERROR(
        ParseCertificate("tls.client_ca_file", options.client_ca_file, ssl.pem_root_certs)
            .status());
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace hobbit::server
