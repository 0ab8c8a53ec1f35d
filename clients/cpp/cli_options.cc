#include "clients/cpp/cli_options.h"

#include <functional>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hobbit::cli {
namespace {

using Setter = std::function<absl::Status(const std::string& value, CliOptions* options)>;

struct FlagSpec {
  bool takes_value;
  std::set<Command> commands;  // where the flag is allowed
  Setter set;
};

absl::Status BadValue(absl::string_view flag, absl::string_view expected, const std::string& value) {
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": expected ", expected, ", got '", value, "'"));
}

template <typename T>
Setter Number(std::optional<T> CliOptions::*field, absl::string_view flag) {
  return [field, flag](const std::string& value, CliOptions* options) -> absl::Status {
    T parsed;
    bool ok;
    if constexpr (std::is_floating_point_v<T>) {
      ok = absl::SimpleAtof(value, &parsed);
    } else {
      ok = absl::SimpleAtoi(value, &parsed);
    }
    if (!ok) return BadValue(flag, "a number", value);
    options->*field = parsed;
    return absl::OkStatus();
  };
}

Setter Text(std::optional<std::string> CliOptions::*field) {
  return [field](const std::string& value, CliOptions* options) {
    options->*field = value;
    return absl::OkStatus();
  };
}

const std::map<std::string, FlagSpec, std::less<>>& Flags() {
  const std::set<Command> all = {Command::kGenerate, Command::kChat, Command::kInfo,
                                 Command::kStats, Command::kTokenize};
  const std::set<Command> gen = {Command::kGenerate, Command::kChat};
  static const auto* flags = new std::map<std::string, FlagSpec, std::less<>>{
      {"--server", {true, all, [](const std::string& v, CliOptions* o) {
                      if (v.find(':') == std::string::npos) return BadValue("--server", "HOST:PORT", v);
                      o->server = v;
                      return absl::OkStatus();
                    }}},
      {"--timeout", {true, all, [](const std::string& v, CliOptions* o) {
                       double seconds;
                       // Bounded so that it fits the deadline's microsecond count.
                       if (!absl::SimpleAtod(v, &seconds) || !(seconds > 0) || !(seconds <= 1e9)) {
                         return BadValue("--timeout", "seconds in (0, 1e9]", v);
                       }
                       o->timeout_seconds = seconds;
                       return absl::OkStatus();
                     }}},
      {"--tls-ca", {true, all, Text(&CliOptions::tls_ca_file)}},
      {"--tls-cert", {true, all, Text(&CliOptions::tls_cert_file)}},
      {"--tls-key", {true, all, Text(&CliOptions::tls_key_file)}},
      {"--token-file", {true, all, Text(&CliOptions::token_file)}},
      {"--prompt", {true, {Command::kGenerate}, Text(&CliOptions::prompt)}},
      {"--text", {true, {Command::kTokenize}, Text(&CliOptions::text)}},
      {"--system", {true, {Command::kChat}, Text(&CliOptions::system)}},
      {"--max-tokens", {true, gen, Number(&CliOptions::max_tokens, "--max-tokens")}},
      {"--temperature", {true, gen, Number(&CliOptions::temperature, "--temperature")}},
      {"--top-p", {true, gen, Number(&CliOptions::top_p, "--top-p")}},
      {"--top-k", {true, gen, Number(&CliOptions::top_k, "--top-k")}},
      {"--seed", {true, gen, Number(&CliOptions::seed, "--seed")}},
      {"--stop", {true, gen, [](const std::string& v, CliOptions* o) {
                    o->stop.push_back(v);
                    return absl::OkStatus();
                  }}},
      {"--precision", {true, gen, [](const std::string& v, CliOptions* o) {
                         if (v != "quality" && v != "balanced" && v != "speed") {
                           return BadValue("--precision", "quality, balanced or speed", v);
                         }
                         o->precision = v;
                         return absl::OkStatus();
                       }}},
      {"--ignore-eos", {false, gen, [](const std::string&, CliOptions* o) {
                          o->ignore_eos = true;
                          return absl::OkStatus();
                        }}},
      {"--pieces", {false, {Command::kTokenize}, [](const std::string&, CliOptions* o) {
                      o->pieces = true;
                      return absl::OkStatus();
                    }}},
      {"--no-special", {false, {Command::kTokenize}, [](const std::string&, CliOptions* o) {
                          o->add_special = false;
                          return absl::OkStatus();
                        }}},
  };
  return *flags;
}

absl::StatusOr<Command> ParseCommand(absl::string_view name) {
  if (name == "generate") return Command::kGenerate;
  if (name == "chat") return Command::kChat;
  if (name == "info") return Command::kInfo;
  if (name == "stats") return Command::kStats;
  if (name == "tokenize") return Command::kTokenize;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown command '", name, "' (one of generate, chat, info, stats, tokenize)"));
}

}  // namespace

absl::StatusOr<CliOptions> ParseCliOptions(int argc, const char* const* argv) {
  CliOptions options;
  if (argc < 2) return absl::InvalidArgumentError("missing command (see hobbit --help)");
  absl::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    options.help = true;
    return options;
  }
  absl::StatusOr<Command> command = ParseCommand(first);
  if (!command.ok()) return command.status();
  options.command = *command;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    auto it = Flags().find(name);
    if (it == Flags().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '", arg, "' for '", first, "' (see hobbit --help)"));
    }
    const FlagSpec& spec = it->second;
    if (!spec.commands.contains(options.command)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " does not apply to 'hobbit ", first, "'"));
    }
    if (spec.takes_value && !value.has_value()) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      value = argv[++i];
    }
    if (!spec.takes_value && value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " takes no value"));
    }
    absl::Status status = spec.set(value.value_or(""), &options);
    if (!status.ok()) return status;
  }
  if (options.help) return options;
  if (options.tls_cert_file.has_value() != options.tls_key_file.has_value()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (options.tls_cert_file.has_value() && !options.tls_ca_file.has_value()) {
    return absl::InvalidArgumentError("--tls-cert needs --tls-ca (the CA of the server)");
  }
  if (options.command == Command::kGenerate && !options.prompt.has_value()) {
    return absl::InvalidArgumentError("hobbit generate needs --prompt TEXT");
  }
  if (options.command == Command::kTokenize && !options.text.has_value()) {
    return absl::InvalidArgumentError("hobbit tokenize needs --text TEXT");
  }
  return options;
}

std::string CliUsage() {
  return R"(Usage: hobbit COMMAND [flags]

Commands:
  generate --prompt TEXT   stream a completion to stdout (final statistics to stderr)
  chat                     interactive chat on stdin/stdout with the model's chat template;
                           the conversation is kept; an empty line or EOF ends it
  info                     describe the served model
  stats                    show the engine's live counters
  tokenize --text TEXT     print the token ids of TEXT

Flags:
  --server HOST:PORT   hobbitd address (default 127.0.0.1:50051)
  --timeout SECONDS    deadline for each call (default: none)
  --tls-ca FILE        connect with TLS, trusting the PEM CA in FILE
  --tls-cert FILE --tls-key FILE
                       a client certificate and key (PEM) for servers that require one
  --token-file FILE    send the bearer token in FILE (default: $HOBBIT_TOKEN, if set)
  generate and chat:
    --max-tokens N  --temperature T  --top-p P  --top-k K  --seed S
    --stop S (repeatable)  --ignore-eos
    --precision quality|balanced|speed   how the expert loader may trade precision
                    for speed (capped by the server; default: the server's)
  chat:      --system TEXT   a system message to start the conversation
  tokenize:  --pieces        also print each token's text
             --no-special    do not add the BOS token

Exit status: 0 on success, 1 when the server fails or cannot be reached, 2 for a usage error.
)";
}

}  // namespace hobbit::cli
