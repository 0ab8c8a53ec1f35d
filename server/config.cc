#include "server/config.h"

#include <filesystem>

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kernels/base/kv_cache_type.h"
#include "kernels/base/status_macros.h"
#include "runtime/backend/prefill_precision.h"

namespace hobbit::server {
namespace {

// Reads one scalar into the config; returns InvalidArgument "expected ..., got ..." without a
// location (the caller prefixes file, line and key).
using Reader = std::function<absl::Status(const YAML::Node& value)>;

struct Key {
  absl::string_view name;
  Reader read;
};

struct Section {
  absl::string_view name;
  std::vector<Key> keys;
};

absl::Status WrongValue(absl::string_view expected, const YAML::Node& value) {
  std::string got = value.IsScalar() ? absl::StrCat("'", value.Scalar(), "'")
                    : value.IsMap()      ? std::string("a mapping")
                    : value.IsSequence() ? std::string("a list")
                                         : std::string("nothing");
  return absl::InvalidArgumentError(absl::StrCat("expected ", expected, ", got ", got));
}

template <typename Int>
Reader IntReader(Int* out, int64_t lo, int64_t hi) {
  return [out, lo, hi](const YAML::Node& value) -> absl::Status {
    std::string expected = absl::StrCat("an integer in [", lo, ", ", hi, "]");
    int64_t parsed = 0;
    if (!value.IsScalar() || !absl::SimpleAtoi(value.Scalar(), &parsed) || parsed < lo ||
        parsed > hi) {
      return WrongValue(expected, value);
    }
    *out = static_cast<Int>(parsed);
    return absl::OkStatus();
  };
}

// A finite number in [lo, hi], stored as Real (double or float).
template <typename Real>
Reader NumberReader(Real* out, double lo, double hi) {
  return [out, lo, hi](const YAML::Node& value) -> absl::Status {
    double parsed = 0;
    if (!value.IsScalar() || !absl::SimpleAtod(value.Scalar(), &parsed) || !std::isfinite(parsed) ||
        parsed < lo || parsed > hi) {
      return WrongValue(absl::StrCat("a number in [", lo, ", ", hi, "]"), value);
    }
    *out = static_cast<Real>(parsed);
    return absl::OkStatus();
  };
}

Reader BoolReader(bool* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    if (value.IsScalar() && value.Scalar() == "true") {
      *out = true;
    } else if (value.IsScalar() && value.Scalar() == "false") {
      *out = false;
    } else {
      return WrongValue("true or false", value);
    }
    return absl::OkStatus();
  };
}

Reader PathReader(std::string* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    if (!value.IsScalar() || value.Scalar().empty()) return WrongValue("a file path", value);
    *out = value.Scalar();
    return absl::OkStatus();
  };
}

// host:port, host may be a name, an IPv4 address or a bracketed IPv6 address; port in [0, 65535].
Reader ListenReader(std::string* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    constexpr absl::string_view kExpected = "HOST:PORT with a port in [0, 65535]";
    if (!value.IsScalar()) return WrongValue(kExpected, value);
    const std::string& text = value.Scalar();
    size_t colon = text.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(absl::string_view(text).substr(colon + 1), &port) || port < 0 ||
        port > 65535) {
      return WrongValue(kExpected, value);
    }
    *out = text;
    return absl::OkStatus();
  };
}

Reader BackendReader(std::string* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    if (!value.IsScalar() ||
        (value.Scalar() != "cpu" && value.Scalar() != "cuda" && value.Scalar() != "auto")) {
      return WrongValue("cpu, cuda or auto", value);
    }
    *out = value.Scalar();
    return absl::OkStatus();
  };
}

// A name parsed by `parse` (which returns nullopt for an unknown name).
template <typename T, typename Parse>
Reader EnumReader(T* out, Parse parse, absl::string_view expected) {
  return [out, parse, expected](const YAML::Node& value) -> absl::Status {
    if (!value.IsScalar()) return WrongValue(expected, value);
    std::optional<T> parsed = parse(value.Scalar());
    if (!parsed) return WrongValue(expected, value);
    *out = *parsed;
    return absl::OkStatus();
  };
}

// engine.tf32_prefill, the boolean that engine.prefill_precision replaced (true = tf32, false =
// f32), kept so that older files load. Deprecated: this file has no way to warn, so docs/gpu.md
// says it.
Reader LegacyTf32PrefillReader(runtime::PrefillPrecision* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    bool tf32 = false;
    HOBBIT_RETURN_IF_ERROR(BoolReader(&tf32)(value));
    *out = tf32 ? runtime::PrefillPrecision::kTf32 : runtime::PrefillPrecision::kF32;
    return absl::OkStatus();
  };
}

// Any scalar, the empty string included.
Reader StringReader(std::string* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    if (!value.IsScalar()) return WrongValue("a string", value);
    *out = value.Scalar();
    return absl::OkStatus();
  };
}

// 0 (no pacing) or at least 1 MB/s: a smaller pace would make every expert copy take hours.
Reader CopyBandwidthReader(double* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    double parsed = 0;
    if (!value.IsScalar() || !absl::SimpleAtod(value.Scalar(), &parsed) || !std::isfinite(parsed) ||
        (parsed != 0.0 && (parsed < 1e6 || parsed > 1e15))) {
      return WrongValue("0 (no pacing) or bytes/s in [1e6, 1e15]", value);
    }
    *out = parsed;
    return absl::OkStatus();
  };
}

Reader LogLevelReader(LogLevel* out) {
  return [out](const YAML::Node& value) -> absl::Status {
    if (!value.IsScalar()) return WrongValue("debug, info, warning or error", value);
    absl::StatusOr<LogLevel> level = ParseLogLevel(value.Scalar());
    if (!level.ok()) return WrongValue("debug, info, warning or error", value);
    *out = *level;
    return absl::OkStatus();
  };
}

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// experts: the offloading options (runtime/experts/expert_options.h has what each does).
std::vector<Key> ExpertKeys(runtime::ExpertOptions* e) {
  const auto policy = [](const std::string& s) { return runtime::ParseExpertPolicy(s); };
  return {
      {"mode", EnumReader(&e->mode, [](const std::string& s) { return runtime::ParseExpertMode(s); },
                          "resident, ondemand-lru, static-low or hobbit")},
      {"gpu_cache_bytes", IntReader(&e->gpu_cache_bytes, 0, kInt64Max)},
      {"high_pool_fraction", NumberReader(&e->high_pool_fraction, 0.0, 1.0)},
      {"low_format", EnumReader(&e->low_format, [](const std::string& s) { return runtime::ParseLowFormat(s); },
                                "int4, int2 or auto")},
      {"t1", NumberReader(&e->balanced.t1, 0.0, 1.0)},
      {"t2", NumberReader(&e->balanced.t2, 0.0, 1.0)},
      {"speed_t1", NumberReader(&e->speed.t1, 0.0, 1.0)},
      {"speed_t2", NumberReader(&e->speed.t2, 0.0, 1.0)},
      {"fastest_policy", EnumReader(&e->fastest_policy, policy, "quality, balanced or speed")},
      {"default_policy", EnumReader(&e->default_policy, policy, "quality, balanced or speed")},
      {"w_lru", NumberReader(&e->w_lru, 0.0, 1.0)},
      {"w_lfu", NumberReader(&e->w_lfu, 0.0, 1.0)},
      {"w_lhu", NumberReader(&e->w_lhu, 0.0, 1.0)},
      {"w_fld", NumberReader(&e->w_fld, 0.0, 1.0)},
      {"prefetch_depth", IntReader(&e->prefetch_depth, 0, 16)},
      {"prefetch_throttle", BoolReader(&e->prefetch_throttle)},
      {"cpu_path", BoolReader(&e->cpu_path)},
      {"cpu_path_threads", IntReader(&e->cpu_path_threads, 0, 1024)},
      {"copy_bandwidth", CopyBandwidthReader(&e->copy_bandwidth)},
      {"state_dir", StringReader(&e->state_dir)},
      {"warm_start", BoolReader(&e->warm_start)},
      {"build_threads", IntReader(&e->build_threads, 0, 1024)},
      {"pin_host", BoolReader(&e->pin_host)},
  };
}

// The schema: every key hobbitd.yaml may hold, bound to the field it sets.
std::vector<Section> Schema(DaemonConfig* c) {
  runtime::SchedulerOptions& sched = c->engine.scheduler;
  GrpcServerOptions& srv = c->server;
  return {
      {"model", {{"path", PathReader(&c->engine.model_path)}}},
      {"engine",
       {{"backend", BackendReader(&c->engine.backend)},
        {"cpu_threads", IntReader(&c->engine.cpu_threads, 0, 1024)},
        {"int8_activations", BoolReader(&c->engine.int8_activations)},
        {"prefill_precision",
         EnumReader(&c->engine.prefill_precision,
                    [](const std::string& s) { return runtime::ParsePrefillPrecision(s); }, "f16, tf32 or f32")},
        {"tf32_prefill", LegacyTf32PrefillReader(&c->engine.prefill_precision)},
        {"device_routing", BoolReader(&c->engine.device_routing)},
        {"cuda_graphs", BoolReader(&c->engine.cuda_graphs)}}},
      {"scheduler",
       {{"max_running", IntReader(&sched.max_running, 1, 4096)},
        {"max_waiting", IntReader(&sched.max_waiting, 1, 1 << 20)},
        {"step_token_budget", IntReader(&sched.step_token_budget, 1, 1 << 20)},
        {"max_context", IntReader(&sched.max_context, 0, kInt32Max)},
        {"max_tokens_limit", IntReader(&sched.max_tokens_limit, 1, kInt32Max)},
        {"max_stop_strings", IntReader(&sched.max_stop_strings, 0, 1024)},
        {"max_stop_string_bytes", IntReader(&sched.max_stop_string_bytes, 1, 1 << 16)}}},
      {"kv",
       {{"block_size", IntReader(&c->engine.kv.block_size, 1, 4096)},
        {"cache_bytes", IntReader(&c->engine.kv.cache_bytes, 1, kInt64Max)},
        {"type", EnumReader(&c->engine.kv.type, [](const std::string& s) { return kernels::ParseKvCacheSetting(s); },
                            "auto, f16 or f32")}}},
      {"server",
       {{"listen", ListenReader(&srv.listen)},
        {"max_receive_message_bytes", IntReader(&srv.max_receive_message_bytes, 1024, kInt32Max)},
        {"max_send_message_bytes", IntReader(&srv.max_send_message_bytes, 1024, kInt32Max)},
        {"max_concurrent_streams", IntReader(&srv.max_concurrent_streams, 1, 1 << 20)},
        {"keepalive_time_seconds", IntReader(&srv.keepalive_time_seconds, 1, 86400)},
        {"keepalive_timeout_seconds", IntReader(&srv.keepalive_timeout_seconds, 1, 3600)},
        {"min_client_ping_interval_seconds",
         IntReader(&srv.min_client_ping_interval_seconds, 0, 86400)},
        {"permit_keepalive_without_calls", BoolReader(&srv.permit_keepalive_without_calls)},
        {"drain_timeout_seconds", NumberReader(&srv.drain_timeout_seconds, 0.0, 86400.0)}}},
      {"experts", ExpertKeys(&c->engine.experts)},
      {"tls",
       {{"cert_file", PathReader(&srv.tls.cert_file)},
        {"key_file", PathReader(&srv.tls.key_file)},
        {"client_ca_file", PathReader(&srv.tls.client_ca_file)}}},
      {"auth", {{"tokens_file", PathReader(&srv.auth.tokens_file)}}},
      {"metrics", {{"listen", ListenReader(&c->metrics.listen)}}},
      {"log", {{"level", LogLevelReader(&c->log_level)}}},
  };
}

std::string Where(absl::string_view source, const YAML::Mark& mark) {
  if (mark.is_null()) return std::string(source);
  return absl::StrCat(source, ":", mark.line + 1, ":", mark.column + 1);
}

template <typename Named>
std::string KnownNames(const std::vector<Named>& items) {
  return absl::StrJoin(items, ", ", [](std::string* out, const Named& item) {
    absl::StrAppend(out, item.name);
  });
}

// Walks one mapping: each key must be known and appear once.
template <typename Named>
absl::Status ForEachKnownKey(const YAML::Node& map, absl::string_view prefix,
                             const std::vector<Named>& known, absl::string_view source,
                             const std::function<absl::Status(const Named&, const YAML::Node&,
                                                              const YAML::Mark&)>& visit) {
  std::set<std::string> seen;
  for (const auto& entry : map) {
    // Copies: yaml-cpp's iterator hands out a temporary pair, so references into it dangle.
    const YAML::Node key = entry.first;
    const YAML::Node value = entry.second;
    std::string name = key.IsScalar() ? key.Scalar() : "?";
    std::string dotted = prefix.empty() ? name : absl::StrCat(prefix, ".", name);
    const Named* match = nullptr;
    for (const Named& item : known) {
      if (item.name == name) match = &item;
    }
    if (match == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(Where(source, key.Mark()), ": unknown key '",
                                                     dotted, "' (known here: ", KnownNames(known),
                                                     ")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source, key.Mark()), ": key '", dotted, "' appears twice"));
    }
    HOBBIT_RETURN_IF_ERROR(visit(*match, value, key.Mark()));
  }
  return absl::OkStatus();
}

absl::Status ParseSection(const Section& section, const YAML::Node& node, const YAML::Mark& mark,
                          absl::string_view source) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(source, node.IsNull() ? mark : node.Mark()), ": '", section.name,
        "' must be a mapping of keys (", KnownNames(section.keys), ")"));
  }
  return ForEachKnownKey<Key>(
      node, section.name, section.keys, source,
      [&](const Key& key, const YAML::Node& value, const YAML::Mark& key_mark) -> absl::Status {
        absl::Status status = key.read(value);
        if (status.ok()) return status;
        return absl::InvalidArgumentError(
            absl::StrCat(Where(source, value.IsNull() ? key_mark : value.Mark()), ": ",
                         section.name, ".", key.name, ": ", status.message()));
      });
}

// The mark of `name` among the keys of `map`, or nullopt when it is absent.
std::optional<YAML::Mark> KeyMark(const YAML::Node& map, absl::string_view name) {
  for (const auto& entry : map) {
    const YAML::Node key = entry.first;
    if (key.IsScalar() && key.Scalar() == name) return key.Mark();
  }
  return std::nullopt;
}

// engine.tf32_prefill is the old spelling of engine.prefill_precision: a file that sets both is
// refused rather than letting the later of the two win. REQUIRES: the sections parsed.
absl::Status CheckPrefillKeys(const YAML::Node& root, absl::string_view source) {
  for (const auto& entry : root) {
    const YAML::Node name = entry.first;
    const YAML::Node engine = entry.second;
    if (!name.IsScalar() || name.Scalar() != "engine" || !engine.IsMap()) continue;
    const std::optional<YAML::Mark> legacy = KeyMark(engine, "tf32_prefill");
    if (!legacy.has_value() || !KeyMark(engine, "prefill_precision").has_value()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        Where(source, *legacy), ": engine.tf32_prefill and engine.prefill_precision are both set; keep "
        "engine.prefill_precision (tf32_prefill true is tf32, false is f32) and remove engine.tf32_prefill"));
  }
  return absl::OkStatus();
}

absl::Status ApplyFlag(const std::optional<std::string>& flag, absl::string_view flag_name,
                       absl::string_view section_name, absl::string_view key_name,
                       DaemonConfig* config) {
  if (!flag.has_value()) return absl::OkStatus();
  for (const Section& section : Schema(config)) {
    if (section.name != section_name) continue;
    for (const Key& key : section.keys) {
      if (key.name != key_name) continue;
      absl::Status status = key.read(YAML::Node(*flag));
      if (!status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(flag_name, " (", section_name, ".",
                                                       key_name, "): ", status.message()));
      }
      return absl::OkStatus();
    }
  }
  return absl::InternalError(absl::StrCat("no configuration key ", section_name, ".", key_name));
}

}  // namespace

absl::StatusOr<DaemonConfig> ParseDaemonConfig(absl::string_view yaml_text, absl::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, e.mark), ": not valid YAML: ", e.msg));
  }
  DaemonConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source, root.Mark()), ": the top level must be a mapping of sections"));
  }
  std::vector<Section> schema = Schema(&config);
  HOBBIT_RETURN_IF_ERROR(ForEachKnownKey<Section>(
      root, "", schema, source,
      [&](const Section& section, const YAML::Node& node, const YAML::Mark& mark) {
        return ParseSection(section, node, mark, source);
      }));
  HOBBIT_RETURN_IF_ERROR(CheckPrefillKeys(root, source));
  // Rules across keys (weights summing to one, t1 <= t2, a cache budget for offloading modes).
  if (absl::Status s = runtime::ValidateExpertOptions(config.engine.experts); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  return config;
}

absl::StatusOr<DaemonConfig> LoadDaemonConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    // A directory opens and reads as empty text, which would mean "all defaults": no TLS, no auth.
    return absl::InvalidArgumentError(absl::StrCat("config file '", path, "' is not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading config file '", path, "'"));
  return ParseDaemonConfig(text.str(), path);
}

absl::StatusOr<DaemonConfig> LoadDaemonConfig(const CommandLineFlags& flags) {
  DaemonConfig config;
  if (flags.config_path.has_value()) {
    HOBBIT_ASSIGN_OR_RETURN(config, LoadDaemonConfigFile(*flags.config_path));
  }
  HOBBIT_RETURN_IF_ERROR(ApplyFlag(flags.model_path, "--model", "model", "path", &config));
  HOBBIT_RETURN_IF_ERROR(ApplyFlag(flags.listen, "--listen", "server", "listen", &config));
  HOBBIT_RETURN_IF_ERROR(
      ApplyFlag(flags.metrics_listen, "--metrics-listen", "metrics", "listen", &config));
  HOBBIT_RETURN_IF_ERROR(ApplyFlag(flags.backend, "--backend", "engine", "backend", &config));
  HOBBIT_RETURN_IF_ERROR(
      ApplyFlag(flags.cpu_threads, "--cpu-threads", "engine", "cpu_threads", &config));
  HOBBIT_RETURN_IF_ERROR(ApplyFlag(flags.log_level, "--log-level", "log", "level", &config));
  return config;
}

absl::StatusOr<std::string> ResolveModelPath(const std::string& configured) {
  std::error_code error;
  if (!configured.empty()) {
    if (std::filesystem::is_regular_file(configured, error)) return configured;
    return absl::NotFoundError(absl::StrCat("model.path: no model file at '", configured,
                                            "' (set model.path in the config or pass --model)"));
  }
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  const std::filesystem::path builtin =
      (exe.parent_path() / std::string(kBuiltInModelRelativePath)).lexically_normal();
  if (!error && std::filesystem::is_regular_file(builtin, error)) return builtin.string();
  return absl::NotFoundError(absl::StrCat("model.path is not set and the built-in demo model is not at '",
                                          builtin.string(), "' (pass --model FILE.gguf)"));
}

}  // namespace hobbit::server
