// ExpertStore: every routed expert in host memory in two precisions.
//
// The high copy is the expert as stored in the model file: views into the mapped GGUF, or, when a
// backend to pin with is given, page-locked there (a file in tmpfs) or copied into pinned memory. The low copy is made at load time by re-quantizing each row group-wise (int4: Q4_1,
// 32-element groups with scale and min; int2: Q2_K, 16-element groups in 256-element
// super-blocks, falling back to Q4_1 for rows that are not a multiple of 256). With a state
// directory the low copies are written to a cache file keyed by the model file's identity (path,
// size, mtime) and the format, and verified by a checksum when read back: a corrupt or stale
// cache is rebuilt, never trusted.
//
//   ExpertStoreOptions o{.format = LowFormat::kInt4, .state_dir = "/var/lib/hobbit"};
//   o.model_path = file.path();
//   HOBBIT_ASSIGN_OR_RETURN(auto store, ExpertStore::Create(config, experts, o));
//   const ExpertCopy& low = store->low(layer, expert);  // low.gate.data ... in host memory
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend/backend.h"
#include "runtime/experts/expert_options.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace hobbit::runtime {

// One expert's three matrices in one precision.
struct ExpertCopy {
  WeightView gate, up, down;
  int64_t bytes() const { return gate.bytes() + up.bytes() + down.bytes(); }
};

struct ExpertStoreOptions {
  LowFormat format = LowFormat::kInt4;
  bool make_low = true;      // false: high copies only (ondemand-lru needs no low copies)
  std::string state_dir;     // "" = no disk cache
  std::string model_path;    // identity of the model file for the cache key ("" = no disk cache)
  int32_t threads = 0;       // 0 = all cores
  std::function<void(std::string_view)> progress;  // one-line status messages (may be empty)
  // When set, the low copies live in this backend's pinned host memory and the high copies are
  // page-locked (a model file in tmpfs) or copied into pinned memory (a file on disk: its page
  // cache is not pinned), so copies to the device run at the link's speed. Where the
  // system refuses, the store falls back to pageable memory and says so through `progress`.
  Backend* pin_with = nullptr;
};

// Immutable after Create: safe to read from any thread.
class ExpertStore {
 public:
  static absl::StatusOr<std::unique_ptr<ExpertStore>> Create(const ModelConfig& config,
                                                             std::span<const LayerExperts> experts,
                                                             const ExpertStoreOptions& options);

  int32_t n_layer() const { return n_layer_; }
  int32_t n_expert() const { return n_expert_; }
  bool has_low() const { return !low_.empty(); }
  const ExpertCopy& high(int32_t layer, int32_t expert) const { return high_[Index(layer, expert)]; }
  const ExpertCopy& low(int32_t layer, int32_t expert) const { return low_[Index(layer, expert)]; }
  const ExpertCopy& copy(bool high_precision, int32_t layer, int32_t expert) const {
    return high_precision ? high(layer, expert) : low(layer, expert);
  }
  // The largest copy of each precision: the slot size of the device pools.
  int64_t max_high_bytes() const { return max_high_bytes_; }
  int64_t max_low_bytes() const { return max_low_bytes_; }
  int64_t low_bytes_total() const { return static_cast<int64_t>(low_size_); }
  bool high_pinned() const { return high_pinned_; }
  bool low_pinned() const { return low_pinned_ != nullptr; }

  // Where the low copies came from, for logs and tests.
  bool loaded_from_cache() const { return loaded_from_cache_; }
  const std::string& cache_path() const { return cache_path_; }  // "" without a disk cache
  const std::string& cache_problem() const { return cache_problem_; }  // why a cache was rebuilt

 private:
  ExpertStore() = default;
  size_t Index(int32_t layer, int32_t expert) const { return static_cast<size_t>(layer) * n_expert_ + expert; }
  absl::Status AllocateLow(size_t bytes);
  // Makes the high copies fast to copy from: page-locks the mapping when the model file is in
  // memory-backed storage (tmpfs), else copies them into pinned memory.
  absl::Status PinHigh(const std::string& model_path, int32_t threads,
                       const std::function<void(std::string_view)>& say);
  absl::Status PlanLow(LowFormat format);
  absl::Status BuildLow(int32_t threads, const std::function<void(std::string_view)>& progress);
  absl::Status ReadCache(uint64_t layout_hash);
  absl::Status WriteCache(uint64_t layout_hash) const;
  uint64_t LayoutHash() const;

  int32_t n_layer_ = 0;
  int32_t n_expert_ = 0;
  std::vector<ExpertCopy> high_;
  std::vector<ExpertCopy> low_;  // views into low_base_
  // The low copies' bytes: pinned (low_pinned_) or, without a backend to pin with, low_plain_.
  uint8_t* low_base_ = nullptr;
  size_t low_size_ = 0;
  std::unique_ptr<HostBuffer> low_pinned_;
  std::vector<uint8_t> low_plain_;
  Backend* pin_with_ = nullptr;  // used during Create only
  std::string pin_problem_;
  std::unique_ptr<HostRegistration> high_pin_;
  std::unique_ptr<HostBuffer> high_copy_;  // the high copies, when copied into pinned memory
  bool high_pinned_ = false;
  int64_t max_high_bytes_ = 0;
  int64_t max_low_bytes_ = 0;
  LowFormat format_ = LowFormat::kInt4;
  std::string model_path_;
  uint64_t model_size_ = 0;
  int64_t model_mtime_ns_ = 0;
  bool loaded_from_cache_ = false;
  std::string cache_path_;
  std::string cache_problem_;
};

// The type a matrix of `cols`-element rows of `high_type` gets in its low copy.
uint32_t LowTypeFor(LowFormat format, uint32_t high_type, int64_t cols);

}  // namespace hobbit::runtime
