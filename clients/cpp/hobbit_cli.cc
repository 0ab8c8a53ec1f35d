#include "clients/cpp/hobbit_cli.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace hobbit::cli {

namespace v1 = ::hobbit::v1;

namespace {

const char* FinishReasonName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_STOP: return "stop";
    case v1::FINISH_REASON_LENGTH: return "length";
    case v1::FINISH_REASON_CANCELLED: return "cancelled";
    case v1::FINISH_REASON_ABORTED: return "aborted";
    case v1::FINISH_REASON_ERROR: return "error";
    default: return "unspecified";
  }
}

bool ReadWholeFile(const std::string& path, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return !in.bad();
}

}  // namespace

HobbitCli::HobbitCli(const CliOptions& options, std::istream& in, std::ostream& out,
                     std::ostream& err)
    : options_(options),
      in_(in),
      out_(out),
      err_(err) {}

int HobbitCli::Connect() {
  auto read = [this](const char* flag, const std::string& path, std::string* text) {
    if (ReadWholeFile(path, text)) return true;
    err_ << "hobbit: " << flag << ": cannot read '" << path << "'\n";
    return false;
  };
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options_.tls_ca_file.has_value()) {
    grpc::SslCredentialsOptions ssl;
    if (!read("--tls-ca", *options_.tls_ca_file, &ssl.pem_root_certs)) return 2;
    if (options_.tls_cert_file.has_value() &&
        (!read("--tls-cert", *options_.tls_cert_file, &ssl.pem_cert_chain) ||
         !read("--tls-key", *options_.tls_key_file, &ssl.pem_private_key))) {
      return 2;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::string token;
  if (options_.token_file.has_value()) {
    if (!read("--token-file", *options_.token_file, &token)) return 2;
    token = std::string(absl::StripAsciiWhitespace(token.substr(0, token.find('\n'))));
    if (token.empty()) {
      err_ << "hobbit: --token-file: '" << *options_.token_file
           << "' has no token on its first line\n";
      return 2;
    }
  } else if (const char* env = std::getenv("HOBBIT_TOKEN"); env != nullptr) {
    token = std::string(absl::StripAsciiWhitespace(env));
  }
  // gRPC aborts the process on metadata outside printable ASCII: refuse such a token instead.
  for (char c : token) {
    if (c < 0x20 || c > 0x7e) {
      err_ << "hobbit: " << (options_.token_file.has_value() ? "--token-file" : "HOBBIT_TOKEN")
           << ": the token may hold only printable ASCII characters\n";
      return 2;
    }
  }
  if (!token.empty()) authorization_ = "Bearer " + token;
  stub_ = v1::Hobbit::NewStub(grpc::CreateChannel(options_.server, credentials));
  return 0;
}

int HobbitCli::Run() {
  if (int code = Connect(); code != 0) return code;
  switch (options_.command) {
    case Command::kGenerate: return Generate();
    case Command::kChat: return Chat();
    case Command::kInfo: return Info();
    case Command::kStats: return Stats();
    case Command::kTokenize: return Tokenize();
  }
  return 2;
}

void HobbitCli::PrepareContext(grpc::ClientContext* context) const {
  if (!authorization_.empty()) context->AddMetadata("authorization", authorization_);
  if (!options_.timeout_seconds.has_value()) return;
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(int64_t(*options_.timeout_seconds * 1e6)));
}

int HobbitCli::Fail(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    err_ << "hobbit: server " << options_.server << " is unavailable: " << status.error_message()
         << "\n";
  } else {
    // gRPC's codes are Abseil's: print the name (INVALID_ARGUMENT), not the number.
    err_ << "hobbit: " << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())) << ": "
         << status.error_message() << "\n";
  }
  return 1;
}

void HobbitCli::ApplySampling(v1::GenerateRequest* request) const {
  if (options_.max_tokens) request->set_max_tokens(*options_.max_tokens);
  if (options_.temperature) request->set_temperature(*options_.temperature);
  if (options_.top_p) request->set_top_p(*options_.top_p);
  if (options_.top_k) request->set_top_k(*options_.top_k);
  if (options_.seed) request->set_seed(*options_.seed);
  for (const std::string& stop : options_.stop) request->add_stop(stop);
  request->set_ignore_eos(options_.ignore_eos);
  if (options_.precision) {
    request->set_precision_policy(*options_.precision == "quality"    ? v1::PRECISION_POLICY_QUALITY
                                  : *options_.precision == "balanced" ? v1::PRECISION_POLICY_BALANCED
                                                                      : v1::PRECISION_POLICY_SPEED);
  }
}

bool HobbitCli::Stream(v1::GenerateRequest request, std::string* text) {
  ApplySampling(&request);
  grpc::ClientContext context;
  PrepareContext(&context);
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub_->Generate(&context, request);
  v1::GenerateResponse response;
  bool failed = false;  // the stream ended with finish_reason error or aborted
  while (reader->Read(&response)) {
    if (response.has_chunk()) {
      out_ << response.chunk().text() << std::flush;
      text->append(response.chunk().text());
    } else if (response.has_final()) {
      const v1::Final& final = response.final();
      failed = final.finish_reason() == v1::FINISH_REASON_ERROR || final.finish_reason() == v1::FINISH_REASON_ABORTED;
      out_ << "\n" << std::flush;
      err_ << absl::StrFormat(
          "[finish=%s prompt_tokens=%d generated_tokens=%d ttft=%.3fs total=%.3fs%s]\n",
          FinishReasonName(final.finish_reason()), final.prompt_tokens(), final.generated_tokens(),
          final.timings().time_to_first_token_seconds(), final.timings().total_seconds(),
          final.message().empty() ? "" : " " + final.message());
      const v1::ExpertStats& e = final.expert_stats();
      if (e.lookups() > 0) {
        err_ << absl::StrFormat(
            "[experts: lookups=%d hits_high=%d hits_low=%d misses_high=%d misses_low=%d misses_skip=%d "
            "misses_host=%d copied=%.1fMB demand + %.1fMB prefetch, prefetch used=%d wasted=%d late=%d, "
            "waited=%.3fs]\n",
            e.lookups(), e.hits_high(), e.hits_low(), e.misses_high(), e.misses_low(), e.misses_skip(),
            e.misses_host(),
            e.bytes_demand() / 1e6, e.bytes_prefetch() / 1e6, e.prefetch_used(), e.prefetch_wasted(),
            e.prefetch_late(), e.load_wait_seconds());
      }
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    Fail(status);
    return false;
  }
  return !failed;  // scripts see a generation the server gave up on as a failure
}

int HobbitCli::Generate() {
  v1::GenerateRequest request;
  request.set_text(*options_.prompt);
  std::string text;
  return Stream(request, &text) ? 0 : 1;
}

int HobbitCli::Chat() {
  v1::ChatMessages history;
  if (options_.system) {
    v1::ChatMessage* system = history.add_messages();
    system->set_role("system");
    system->set_content(*options_.system);
  }
  std::string line;
  while (true) {
    out_ << "> " << std::flush;
    if (!std::getline(in_, line) || line.empty()) break;
    v1::ChatMessage* user = history.add_messages();
    user->set_role("user");
    user->set_content(line);
    v1::GenerateRequest request;
    *request.mutable_chat() = history;
    std::string reply;
    if (!Stream(request, &reply)) return 1;
    v1::ChatMessage* assistant = history.add_messages();
    assistant->set_role("assistant");
    assistant->set_content(reply);
  }
  return 0;
}

int HobbitCli::Info() {
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::GetModelInfoResponse info;
  grpc::Status status = stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return Fail(status);
  out_ << info.DebugString();
  return 0;
}

int HobbitCli::Stats() {
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::GetCacheStatsResponse stats;
  grpc::Status status = stub_->GetCacheStats(&context, v1::GetCacheStatsRequest(), &stats);
  if (!status.ok()) return Fail(status);
  out_ << stats.DebugString();
  return 0;
}

int HobbitCli::Tokenize() {
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::TokenizeRequest request;
  request.set_text(*options_.text);
  request.set_add_special(options_.add_special);
  request.set_return_pieces(options_.pieces);
  v1::TokenizeResponse response;
  grpc::Status status = stub_->Tokenize(&context, request, &response);
  if (!status.ok()) return Fail(status);
  for (int i = 0; i < response.ids_size(); ++i) {
    out_ << response.ids(i);
    if (options_.pieces) out_ << "\t" << absl::StrFormat("%s", absl::CEscape(response.pieces(i)));
    out_ << (options_.pieces ? "\n" : (i + 1 < response.ids_size() ? " " : "\n"));
  }
  return 0;
}

}  // namespace hobbit::cli
