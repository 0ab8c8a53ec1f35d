#include "tools/hobbit_tool/bench_model_source.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"

namespace hobbit::tools {
namespace {

int64_t FreeBytes(const std::string& dir) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

// The first of /dev/shm, $TMPDIR and /tmp with room for `bytes` (and a 5 % margin).
absl::StatusOr<std::string> PickSynthDir(int64_t bytes) {
  std::vector<std::string> dirs = {"/dev/shm"};
  if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && tmp[0] != '\0') dirs.push_back(tmp);
  dirs.push_back("/tmp");
  std::string tried;
  for (const std::string& d : dirs) {
    const int64_t free = FreeBytes(d);
    if (free >= bytes + bytes / 20) return d;
    absl::StrAppend(&tried, tried.empty() ? "" : ", ", d, " ", free < 0 ? "missing" : absl::StrCat(free, " bytes free"));
  }
  return absl::ResourceExhaustedError(absl::StrCat("no room for the synthesized model (~", bytes, " bytes): ", tried,
                                                   "; use fewer --layers or a smaller --type"));
}

absl::StatusOr<BenchModel> Synthesize(const BenchOptions& o) {
  SynthOptions so;
  so.preset = o.preset;
  so.layers = o.layers;
  so.type = o.type;
  so.seed = o.seed;
  HOBBIT_ASSIGN_OR_RETURN(int64_t bytes, EstimateSynthBytes(so));
  BenchModel m;
  HOBBIT_ASSIGN_OR_RETURN(m.synth_dir, PickSynthDir(bytes));
  std::string path = m.synth_dir + "/hobbit-bench-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot create a temp file in ", m.synth_dir));
  ::close(fd);
  std::fprintf(stderr, "bench: synthesizing %s (~%.2f GB) in %s\n", o.preset.c_str(), bytes / 1e9, m.synth_dir.c_str());
  absl::Status s = WriteSynthModel(so, path, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  absl::StatusOr<std::unique_ptr<runtime::GgufFile>> file =
      s.ok() ? runtime::GgufFile::Open(path) : absl::StatusOr<std::unique_ptr<runtime::GgufFile>>(s);
  // The mapping keeps the bytes; the names go now (the writer's .tmp too, after a failure).
  ::unlink(path.c_str());
  ::unlink((path + ".tmp").c_str());
  if (!file.ok()) return file.status();
  m.file = std::move(*file);
  m.source = absl::StrCat("synth:", o.preset);
  return m;
}

}  // namespace

absl::StatusOr<int64_t> EstimateSynthBytes(const SynthOptions& options) {
  HOBBIT_ASSIGN_OR_RETURN(SynthPreset p, FindSynthPreset(options.preset));
  const int64_t layers = options.layers > 0 ? options.layers : p.n_layer;
  const int64_t e = p.n_embd, q = int64_t{p.n_head} * p.head_dim, kv = int64_t{p.n_head_kv} * p.head_dim;
  const int64_t per_layer = e * (q + 2 * kv) + q * e + 3 * e * int64_t{p.n_ff_exp} * p.n_expert;
  const int64_t elements = layers * per_layer + 2 * e * int64_t{p.n_vocab};
  const std::optional<int64_t> row = kernels::GgmlRowBytes(static_cast<uint32_t>(options.type), 256 * 32);
  if (!row) return absl::InvalidArgumentError("synth: the weight type has no row size");
  return static_cast<int64_t>(static_cast<double>(elements) * static_cast<double>(*row) / (256.0 * 32.0)) +
         (int64_t{64} << 20);  // metadata, vocabulary, norms and routers
}

namespace {

// A routed expert's matrix: stacked (blk.N.ffn_gate_exps.weight) or one tensor per expert, as older
// Mixtral files have it (blk.N.ffn_gate.E.weight; the model loader reads both).
bool IsRoutedExpertTensor(absl::string_view name) {
  if (!absl::StartsWith(name, "blk.") || !absl::EndsWith(name, ".weight")) return false;
  for (absl::string_view part : {".ffn_gate", ".ffn_up", ".ffn_down"}) {
    const size_t at = name.find(part);
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = name.substr(at + part.size());
    rest.remove_suffix(absl::string_view(".weight").size());
    if (rest == "_exps") return true;
    // ".E" with E a number: one expert's matrix (not the shared expert's ".ffn_gate_shexp").
    if (rest.size() >= 2 && rest[0] == '.' && absl::c_all_of(rest.substr(1), absl::ascii_isdigit)) return true;
  }
  return false;
}

}  // namespace

int64_t AllRoutedExpertBytes(const runtime::GgufFile& file) {
  int64_t total = 0;
  for (const runtime::GgufTensorInfo& t : file.tensors()) {
    if (IsRoutedExpertTensor(t.name)) total += static_cast<int64_t>(t.nbytes);
  }
  return total;
}

int64_t DecodeWeightBytes(const runtime::GgufFile& file, int32_t n_expert, int32_t n_expert_used) {
  const bool tied_head = file.FindTensor("output.weight") == nullptr;
  int64_t experts = 0, rest = 0;
  for (const runtime::GgufTensorInfo& t : file.tensors()) {
    const auto bytes = static_cast<int64_t>(t.nbytes);
    if (IsRoutedExpertTensor(t.name)) {
      experts += bytes;
    } else if (t.name == "token_embd.weight") {
      rest += tied_head || t.ne[1] < 1 ? bytes : bytes / t.ne[1];
    } else {
      rest += bytes;
    }
  }
  // Every expert is the same size: n_expert_used of n_expert a layer.
  return rest + (n_expert > 0 ? experts / n_expert * n_expert_used : experts);
}

absl::StatusOr<BenchModel> OpenBenchModel(const BenchOptions& options) {
  if (!options.preset.empty()) return Synthesize(options);
  BenchModel m;
  HOBBIT_ASSIGN_OR_RETURN(std::unique_ptr<runtime::GgufFile> file, runtime::GgufFile::Open(options.model_path));
  m.file = std::move(file);
  m.source = options.model_path;
  return m;
}

}  // namespace hobbit::tools
