// OffloadedExpertFfn's warm start (experts.warm_start): lookups per expert are counted, kept in
// the state folder, and the next start copies the most used experts into the empty cache.
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/base/status_macros.h"
#include "runtime/experts/internal/checksum.h"
#include "runtime/experts/offloaded_expert_ffn.h"

namespace hobbit::runtime {

absl::Status OffloadedExpertFfn::WarmStart() {
  if (!options_.warm_start || options_.state_dir.empty() || file_ == nullptr || file_->path().empty()) {
    return absl::OkStatus();
  }
  struct stat st;
  if (::stat(file_->path().c_str(), &st) != 0) return absl::OkStatus();
  // The counts belong to this model file (by path, size and time) and shape.
  const uint64_t key = internal::Checksum64(absl::StrCat(file_->path(), "|", st.st_size, "|",
                                                         int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                                                         "|", config_.n_layer, "|", config_.n_expert));
  usage_memory_ = std::make_unique<UsageMemory>(absl::StrFormat("%s/experts-usage-%016x.txt", options_.state_dir, key),
                                                config_.n_layer, config_.n_expert);
  absl::StatusOr<std::vector<uint64_t>> counts = usage_memory_->Read();
  if (!counts.ok() && !absl::IsNotFound(counts.status()) && progress_) {
    progress_(absl::StrCat("warning: expert usage of earlier runs not used (", counts.status().message(),
                           "); starting with an empty cache"));
  }
  usage_counts_ = counts.ok() ? *counts : std::vector<uint64_t>(static_cast<size_t>(config_.n_layer) * config_.n_expert);
  // Written back now, so a folder the counts cannot be kept in is said at start, not found out
  // silently at exit.
  if (absl::Status written = usage_memory_->Write(usage_counts_); !written.ok()) {
    if (progress_) {
      progress_(absl::StrCat("warning: cannot keep expert usage for the next start (", written.message(),
                             "); warm start off"));
    }
    usage_memory_.reset();
    usage_counts_.clear();
    return absl::OkStatus();
  }
  if (!counts.ok()) return absl::OkStatus();
  const std::vector<std::pair<int32_t, int32_t>> order = UsageMemory::MostUsed(usage_counts_, config_.n_expert);
  // ondemand-lru's pool is split per layer; the others are one pool per precision. The most used
  // experts go high, the next ones low (static-low: all low); one copy per expert.
  const bool per_layer = options_.mode == ExpertMode::kOndemandLru;
  int64_t copied = 0;
  uint64_t bytes = 0;
  for (Precision p : {Precision::kHigh, Precision::kLow}) {
    const int32_t slots = cache_->num_slots(p);
    if (slots == 0) continue;
    const int32_t per_part = per_layer ? slots / config_.n_layer : slots;
    std::vector<int32_t> filled(per_layer ? config_.n_layer : 1, 0);
    for (const auto& [layer, expert] : order) {
      int32_t& n = filled[per_layer ? layer : 0];
      if (n >= per_part) continue;
      if (cache_->Find(Precision::kHigh, layer, expert) >= 0 || cache_->Find(Precision::kLow, layer, expert) >= 0) {
        continue;
      }
      absl::StatusOr<ExpertCache::Insertion> ins = cache_->Insert(p, layer, expert, layer);
      if (!ins.ok()) break;
      HOBBIT_ASSIGN_OR_RETURN(const uint64_t b, FillSlot(layer, expert, p, ins->slot));
      bytes += b;
      ++copied;
      ++n;
    }
  }
  if (progress_) {
    const double b = static_cast<double>(bytes);
    progress_(absl::StrFormat("warm start: the %d most used experts of earlier runs copied to the GPU (%s, %s)",
                              copied, b >= 1e9 ? absl::StrFormat("%.2f GB", b / 1e9) : absl::StrFormat("%.1f MB", b / 1e6),
                              usage_memory_->path()));
  }
  return absl::OkStatus();
}

void OffloadedExpertFfn::SaveUsage() {
  if (usage_memory_ == nullptr || lookups_since_save_ == 0) return;
  // The folder took a write at start (WarmStart). A later failure (a full disk) only costs the
  // next start its warm cache, so it does not fail the step that triggered the save; the counts
  // stay pending and the next save tries again.
  if (usage_memory_->Write(usage_counts_).ok()) lookups_since_save_ = 0;
}

}  // namespace hobbit::runtime
