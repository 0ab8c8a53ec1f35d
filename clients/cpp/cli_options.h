// CliOptions: the command line of `hobbit`, the command-line client of hobbitd.
//
//   hobbit generate --prompt TEXT [--server H:P] [--max-tokens N] [--temperature T] [--top-p P]
//                   [--top-k K] [--seed S] [--stop S]... [--ignore-eos] [--timeout SECONDS]
//   hobbit chat     [--system TEXT] [sampling flags as above]
//   hobbit info | stats [--server H:P]
//   hobbit tokenize --text TEXT [--pieces] [--no-special]
//   every command: [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--token-file FILE]
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hobbit::cli {

enum class Command { kGenerate, kChat, kInfo, kStats, kTokenize };

struct CliOptions {
  Command command = Command::kGenerate;
  std::string server = "127.0.0.1:50051";
  std::optional<double> timeout_seconds;  // per RPC; unset: no deadline
  // TLS: trust this CA (PEM) and connect with TLS; cert and key add a client certificate (mTLS).
  std::optional<std::string> tls_ca_file;
  std::optional<std::string> tls_cert_file;
  std::optional<std::string> tls_key_file;
  // A file holding the bearer token (first line); unset: $HOBBIT_TOKEN if set. Never a flag
  // value, which other users could read from the process list.
  std::optional<std::string> token_file;
  // generate / tokenize input
  std::optional<std::string> prompt;
  std::optional<std::string> text;
  std::optional<std::string> system;  // chat: a system message first
  // sampling (unset: the server's defaults)
  std::optional<int32_t> max_tokens;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  std::optional<std::string> precision;  // quality, balanced or speed
  // tokenize
  bool pieces = false;
  bool add_special = true;
  bool help = false;
};

// InvalidArgument naming the unknown command or flag, the missing or malformed value, or the
// flag that does not belong to the command.
absl::StatusOr<CliOptions> ParseCliOptions(int argc, const char* const* argv);

std::string CliUsage();

}  // namespace hobbit::cli
