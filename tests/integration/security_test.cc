// TLS, mutual TLS and bearer tokens on a real hobbitd, with certificates the test makes with the
// openssl command line at run time (a CA, a server certificate for 127.0.0.1/localhost, a client
// certificate, and a self-signed "rogue" certificate no one trusts).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/subprocess.h"

namespace hobbit::integration {
namespace {

namespace v1 = ::hobbit::v1;

constexpr char kToken[] = "tok-3f9a1c07e2b84d55";
constexpr char kSecondToken[] = "tok-second-77a0c1d2e3f4";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The files made once for the whole suite.
class Certificates {
 public:
  explicit Certificates(std::string dir) : dir_(std::move(dir)) {}

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  // Runs every openssl command; returns the first failure's output, "" on success.
  std::string Make() {
    const std::string openssl = FindProgram("openssl");
    if (openssl.empty()) return "no openssl on PATH";
    const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt",
                                         "ec_paramgen_curve:prime256v1", "-nodes"};
    WriteFile(Path("server.ext"),
              "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    WriteFile(Path("client.ext"), "extendedKeyUsage=clientAuth\n");
    std::vector<std::vector<std::string>> commands = {
        Concat({"req", "-x509"}, ec,
               {"-keyout", Path("ca.key"), "-out", Path("ca.crt"), "-days", "2", "-subj",
                "/CN=hobbit-test-ca", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign"}),
        Concat(
            {"req"}, ec,
            {"-keyout", Path("server.key"), "-out", Path("server.csr"), "-subj", "/CN=localhost"}),
        {"x509", "-req", "-in", Path("server.csr"), "-CA", Path("ca.crt"), "-CAkey", Path("ca.key"),
         "-set_serial", "2", "-days", "2", "-extfile", Path("server.ext"), "-out",
         Path("server.crt")},
        Concat({"req"}, ec,
               {"-keyout", Path("client.key"), "-out", Path("client.csr"), "-subj",
                "/CN=hobbit-client"}),
        {"x509", "-req", "-in", Path("client.csr"), "-CA", Path("ca.crt"), "-CAkey", Path("ca.key"),
         "-set_serial", "3", "-days", "2", "-extfile", Path("client.ext"), "-out",
         Path("client.crt")},
        Concat({"req", "-x509"}, ec,
               {"-keyout", Path("rogue.key"), "-out", Path("rogue.crt"), "-days", "2", "-subj",
                "/CN=rogue"}),
        {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-aes256",
         "-pass", "pass:secret", "-out", Path("encrypted.key")},
    };
    for (std::vector<std::string>& args : commands) {
      args.insert(args.begin(), openssl);
      auto process = Subprocess::Start(args);
      if (!process.ok()) return process.status().ToString();
      absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(60));
      if (!code.ok() || *code != 0) {
        return absl::StrCat(absl::StrJoin(args, " "), " failed:\n", (*process)->stderr_text());
      }
    }
    WriteFile(Path("tokens"),
              absl::StrCat("# clients of the test\n\n", kToken, "\n  ", kSecondToken, "  \n"));
    WriteFile(Path("cli-token"), absl::StrCat(kToken, "\n"));
    WriteFile(Path("not-pem.crt"), "this is not a certificate\n");
    WriteFile(Path("empty-tokens"), "# no token here\n\n");
    return "";
  }

 private:
  static std::vector<std::string> Concat(std::vector<std::string> a,
                                         const std::vector<std::string>& b,
                                         const std::vector<std::string>& c = {}) {
    a.insert(a.end(), b.begin(), b.end());
    a.insert(a.end(), c.begin(), c.end());
    return a;
  }

  std::string dir_;
};

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir = absl::StrCat(::testing::TempDir(), "hobbit_security_", getpid());
    std::filesystem::create_directories(dir);
    certs_ = new Certificates(dir);
    setup_error_ = new std::string(certs_->Make());
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(certs_->Path(""), ignored);
    delete certs_;
    delete setup_error_;
  }

  void SetUp() override {
    if (!std::filesystem::exists(kTestModel)) {
      GTEST_SKIP() << kTestModel << " is missing: run tests/fixtures/hf_tiny/make_hf_tiny.py";
    }
    ASSERT_EQ(*setup_error_, "") << "making the test certificates failed";
  }

  static std::string Cert(const std::string& name) { return certs_->Path(name); }
  static std::string Pem(const std::string& name) { return ReadFile(certs_->Path(name)); }

  static std::string TlsYaml(bool mtls, bool tokens) {
    std::string yaml = absl::StrCat("tls:\n  cert_file: ", Cert("server.crt"),
                                    "\n  key_file: ", Cert("server.key"), "\n");
    if (mtls) absl::StrAppend(&yaml, "  client_ca_file: ", Cert("ca.crt"), "\n");
    if (tokens) absl::StrAppend(&yaml, "auth:\n  tokens_file: ", Cert("tokens"), "\n");
    return yaml;
  }

  // TLS channel credentials trusting `root` (a file of the suite), with an optional client pair.
  static std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const std::string& root,
                                                                  const std::string& client = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem(root);
    if (!client.empty()) {
      options.pem_private_key = Pem(client + ".key");
      options.pem_cert_chain = Pem(client + ".crt");
    }
    return grpc::SslCredentials(options);
  }

  static grpc::Status Info(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& token = "") {
    auto stub = v1::Hobbit::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    v1::GetModelInfoResponse response;
    return stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &response);
  }

  static std::shared_ptr<grpc::Channel> Channel(const DaemonProcess& daemon,
                                                std::shared_ptr<grpc::ChannelCredentials> creds) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel(daemon.address(), creds, args);
  }

  static Certificates* certs_;
  static std::string* setup_error_;
};

Certificates* SecurityTest::certs_ = nullptr;
std::string* SecurityTest::setup_error_ = nullptr;

v1::GenerateRequest ShortRequest() {
  v1::GenerateRequest request;
  request.set_text("Hello");
  request.set_max_tokens(3);
  request.set_temperature(0.0f);
  request.set_ignore_eos(true);
  return request;
}

StreamResult GenerateWithToken(v1::Hobbit::Stub* stub, const std::string& authorization) {
  StreamResult result;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
  auto reader = stub->Generate(&context, ShortRequest());
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    if (response.has_chunk()) ++result.chunks;
    if (response.has_final()) result.final = response.final();
  }
  result.status = reader->Finish();
  return result;
}

struct CliRun {
  int code = -1;
  std::string output;
};

// The `hobbit` CLI's `info` against `address` with extra flags.
CliRun RunCliInfo(const std::string& address, const std::vector<std::string>& flags) {
  std::vector<std::string> args = {BuildBinary("hobbit"), "info", "--server", address,
                                   "--timeout",           "10"};
  args.insert(args.end(), flags.begin(), flags.end());
  CliRun run;
  auto process = Subprocess::Start(args);
  if (!process.ok()) return run;
  absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(60));
  run.code = code.ok() ? *code : -1;
  run.output = (*process)->stdout_text() + (*process)->stderr_text();
  return run;
}

TEST_F(SecurityTest, TlsServesClientsThatTrustTheCaAndRefusesPlaintext) {
  auto daemon =
      DaemonProcess::Start(TlsYaml(/*mtls=*/false, /*tokens=*/true), TlsCredentials("ca.crt"));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  DaemonProcess& d = **daemon;

  // TLS with the CA and a token: served, unary and streaming.
  EXPECT_TRUE(Info(d.NewChannel(), kToken).ok());
  StreamResult stream = GenerateWithToken(d.stub(), absl::StrCat("Bearer ", kToken));
  EXPECT_TRUE(stream.status.ok()) << stream.status.error_message();
  ASSERT_TRUE(stream.final.has_value());
  EXPECT_EQ(stream.final->generated_tokens(), 3);
  // TLS without a token: the token check still applies behind TLS.
  EXPECT_EQ(Info(d.NewChannel()).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A plaintext client, and a TLS client that does not trust the server's CA, never connect.
  grpc::Status plaintext = Info(Channel(d, grpc::InsecureChannelCredentials()), kToken);
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE) << plaintext.error_message();
  grpc::Status untrusted = Info(Channel(d, TlsCredentials("rogue.crt")), kToken);
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAVAILABLE) << untrusted.error_message();

  // The CLI: TLS with the CA and a token file works; plaintext does not.
  CliRun tls =
      RunCliInfo(d.address(), {"--tls-ca", Cert("ca.crt"), "--token-file", Cert("cli-token")});
  EXPECT_EQ(tls.code, 0) << tls.output;
  CliRun plain = RunCliInfo(d.address(), {"--token-file", Cert("cli-token")});
  EXPECT_EQ(plain.code, 1) << plain.output;
  CliRun unreadable = RunCliInfo(d.address(), {"--tls-ca", Cert("missing-ca.crt")});
  EXPECT_EQ(unreadable.code, 2) << unreadable.output;
  EXPECT_NE(unreadable.output.find(Cert("missing-ca.crt")), std::string::npos) << unreadable.output;
}

TEST_F(SecurityTest, MutualTlsNeedsAClientCertificateTheCaSigned) {
  auto daemon = DaemonProcess::Start(TlsYaml(/*mtls=*/true, /*tokens=*/false),
                                     TlsCredentials("ca.crt", "client"));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  DaemonProcess& d = **daemon;

  EXPECT_TRUE(Info(d.NewChannel()).ok());
  grpc::Status no_cert = Info(Channel(d, TlsCredentials("ca.crt")));
  EXPECT_EQ(no_cert.error_code(), grpc::StatusCode::UNAVAILABLE) << no_cert.error_message();
  grpc::Status rogue_cert = Info(Channel(d, TlsCredentials("ca.crt", "rogue")));
  EXPECT_EQ(rogue_cert.error_code(), grpc::StatusCode::UNAVAILABLE) << rogue_cert.error_message();

  CliRun with_cert = RunCliInfo(d.address(), {"--tls-ca", Cert("ca.crt"), "--tls-cert",
                                              Cert("client.crt"), "--tls-key", Cert("client.key")});
  EXPECT_EQ(with_cert.code, 0) << with_cert.output;
  CliRun without_cert = RunCliInfo(d.address(), {"--tls-ca", Cert("ca.crt")});
  EXPECT_EQ(without_cert.code, 1) << without_cert.output;
}

TEST_F(SecurityTest, TokensGuardEveryHobbitCallButNotHealth) {
  auto daemon = DaemonProcess::Start(absl::StrCat("auth:\n  tokens_file: ", Cert("tokens"), "\n"));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  DaemonProcess& d = **daemon;
  constexpr grpc::StatusCode kUnauthenticated = grpc::StatusCode::UNAUTHENTICATED;

  // Missing, wrong, truncated and scheme-less tokens.
  EXPECT_EQ(Info(d.NewChannel()).error_code(), kUnauthenticated);
  EXPECT_EQ(Info(d.NewChannel(), "tok-wrong").error_code(), kUnauthenticated);
  EXPECT_EQ(Info(d.NewChannel(), std::string(kToken).substr(1)).error_code(), kUnauthenticated);
  EXPECT_EQ(GenerateWithToken(d.stub(), "").status.error_code(), kUnauthenticated);
  EXPECT_EQ(GenerateWithToken(d.stub(), kToken).status.error_code(), kUnauthenticated);
  StreamResult rejected = GenerateWithToken(d.stub(), "Bearer nope");
  EXPECT_EQ(rejected.status.error_code(), kUnauthenticated);
  EXPECT_EQ(rejected.chunks, 0);
  {
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text("Hello");
    v1::TokenizeResponse response;
    EXPECT_EQ(d.stub()->Tokenize(&context, request, &response).error_code(), kUnauthenticated);
  }
  {
    grpc::ClientContext context;
    v1::GetCacheStatsResponse response;
    EXPECT_EQ(d.stub()->GetCacheStats(&context, v1::GetCacheStatsRequest(), &response).error_code(),
              kUnauthenticated);
  }

  // Either token of the file, with the scheme in any case.
  EXPECT_TRUE(Info(d.NewChannel(), kToken).ok());
  EXPECT_TRUE(Info(d.NewChannel(), kSecondToken).ok());
  StreamResult served = GenerateWithToken(d.stub(), absl::StrCat("bearer ", kSecondToken));
  EXPECT_TRUE(served.status.ok()) << served.status.error_message();
  ASSERT_TRUE(served.final.has_value());
  EXPECT_EQ(served.final->generated_tokens(), 3);

  // Probes need no token.
  auto health = grpc::health::v1::Health::NewStub(d.NewChannel());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("hobbit.v1.Hobbit");
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // The CLI: no token is UNAUTHENTICATED; a token file or $HOBBIT_TOKEN is served.
  CliRun no_token = RunCliInfo(d.address(), {});
  EXPECT_EQ(no_token.code, 1);
  EXPECT_NE(no_token.output.find("UNAUTHENTICATED"), std::string::npos) << no_token.output;
  CliRun token_file = RunCliInfo(d.address(), {"--token-file", Cert("cli-token")});
  EXPECT_EQ(token_file.code, 0) << token_file.output;
  ASSERT_EQ(setenv("HOBBIT_TOKEN", kSecondToken, 1), 0);
  CliRun token_env = RunCliInfo(d.address(), {});
  unsetenv("HOBBIT_TOKEN");
  EXPECT_EQ(token_env.code, 0) << token_env.output;

  // Tokens never reach the log.
  std::string log = d.process().stderr_text() + d.process().stdout_text();
  EXPECT_EQ(log.find(kToken), std::string::npos);
  EXPECT_EQ(log.find(kSecondToken), std::string::npos);
}

// A misconfigured daemon stops at start-up, and the error names the file to fix.
struct RefusalCase {
  std::string name;
  std::string yaml;
  std::vector<std::string> expected;  // substrings of stderr
};

class SecurityRefusalTest : public SecurityTest,
                            public ::testing::WithParamInterface<RefusalCase> {};

std::vector<RefusalCase> RefusalCases() {
  auto tls = [](const std::string& cert, const std::string& key) {
    return absl::StrCat("tls:\n  cert_file: ", cert, "\n  key_file: ", key, "\n");
  };
  // Paths are filled in by the test (the suite's folder is known only at run time): {D} -> dir.
  return {
      {"UnreadableCert",
       tls("{D}/missing.crt", "{D}/server.key"),
       {"tls.cert_file", "{D}/missing.crt"}},
      {"CertNotPem",
       tls("{D}/not-pem.crt", "{D}/server.key"),
       {"tls.cert_file", "{D}/not-pem.crt"}},
      {"UnreadableKey",
       tls("{D}/server.crt", "{D}/missing.key"),
       {"tls.key_file", "{D}/missing.key"}},
      {"KeyDoesNotMatchCert",
       tls("{D}/server.crt", "{D}/client.key"),
       {"tls.key_file", "{D}/client.key", "does not match", "{D}/server.crt"}},
      {"UnreadableClientCa",
       absl::StrCat(tls("{D}/server.crt", "{D}/server.key"),
                    "  client_ca_file: {D}/missing-ca.crt\n"),
       {"tls.client_ca_file", "{D}/missing-ca.crt"}},
      {"EncryptedKey", tls("{D}/server.crt", "{D}/encrypted.key"),
       {"tls.key_file", "{D}/encrypted.key", "unencrypted"}},
      {"CertWithoutKey", "tls:\n  cert_file: {D}/server.crt\n", {"tls.key_file"}},
      {"UnreadableTokens",
       "auth:\n  tokens_file: {D}/missing-tokens\n",
       {"auth.tokens_file", "{D}/missing-tokens"}},
      {"NoTokens",
       "auth:\n  tokens_file: {D}/empty-tokens\n",
       {"auth.tokens_file", "{D}/empty-tokens"}},
  };
}

std::string FillDir(std::string text, const std::string& dir) {
  for (size_t at = text.find("{D}"); at != std::string::npos; at = text.find("{D}")) {
    text.replace(at, 3, dir);
  }
  return text;
}

TEST_P(SecurityRefusalTest, DaemonRefusesToStartNamingTheFile) {
  const RefusalCase& c = GetParam();
  const std::string dir = certs_->Path("");
  const std::string dir_no_slash = dir.substr(0, dir.size() - 1);
  const std::string config = certs_->Path(absl::StrCat("refuse-", c.name, ".yaml"));
  WriteFile(config,
            absl::StrCat("model:\n  path: ", kTestModel, "\n", FillDir(c.yaml, dir_no_slash)));
  auto process = Subprocess::Start({BuildBinary("hobbitd"), "--config", config, "--listen",
                                    "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << "hobbitd kept running:\n" << (*process)->stderr_text();
  EXPECT_NE(*code, 0);
  const std::string log = (*process)->stderr_text();
  for (const std::string& expected : c.expected) {
    EXPECT_NE(log.find(FillDir(expected, dir_no_slash)), std::string::npos)
        << "stderr lacks '" << FillDir(expected, dir_no_slash) << "':\n"
        << log;
  }
}

INSTANTIATE_TEST_SUITE_P(Files, SecurityRefusalTest, ::testing::ValuesIn(RefusalCases()),
                         [](const ::testing::TestParamInfo<RefusalCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace hobbit::integration
