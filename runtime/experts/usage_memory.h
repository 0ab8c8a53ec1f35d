// UsageMemory: how often each expert of a model was looked up, kept on disk between runs of the
// daemon, so a restart fills the GPU cache with the experts its traffic uses most instead of
// starting cold (hobbit-algorithms.md §3, "across sessions", ours).
//
// The file is text, one header line and one line of counts per layer:
//   hobbit-expert-usage 1 <n_layer> <n_expert>
//   <count of expert 0> <count of expert 1> ...
// It is written to a temporary file and renamed, so a reader sees the old or the new file.
//
//   UsageMemory memory(path, n_layer, n_expert);
//   absl::StatusOr<std::vector<uint64_t>> counts = memory.Read();  // NotFound: none yet
//   memory.Write(counts);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hobbit::runtime {

class UsageMemory {
 public:
  UsageMemory(std::string path, int32_t n_layer, int32_t n_expert)
      : path_(std::move(path)), n_layer_(n_layer), n_expert_(n_expert) {}

  const std::string& path() const { return path_; }

  // The counts, layer-major ([n_layer * n_expert]). NotFound when there is no file; DataLoss
  // (naming the problem) when it is damaged or was written for another shape.
  absl::StatusOr<std::vector<uint64_t>> Read() const;
  absl::Status Write(const std::vector<uint64_t>& counts) const;

  // The (layer, expert) pairs by count, most used first; pairs never used are left out.
  static std::vector<std::pair<int32_t, int32_t>> MostUsed(const std::vector<uint64_t>& counts, int32_t n_expert);

 private:
  std::string path_;
  int32_t n_layer_;
  int32_t n_expert_;
};

}  // namespace hobbit::runtime
