// KvCache: the paged key/value store of every layer, in backend memory.
//
// Layer l's keys are one array [num_blocks, block_size, n_head_kv, head_dim_k] of `type` (float32
// or IEEE half; values likewise with head_dim_v). Which blocks a sequence uses is its block table (see StepPlan); block
// ids come from a BlockAllocator over the same num_blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/base/kv_cache_type.h"
#include "runtime/backend/backend.h"

namespace hobbit::runtime {

struct KvCacheShape {
  int32_t n_layers = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim_k = 0;
  int32_t head_dim_v = 0;
  kernels::KvCacheType type = kernels::KvCacheType::kF32;

  // Bytes one token occupies across all layers (K and V).
  int64_t BytesPerToken() const {
    return int64_t{n_layers} * n_head_kv * (head_dim_k + head_dim_v) * kernels::KvCacheTypeBytes(type);
  }
};

// Owned by the engine; accessed only from the engine thread.
class KvCache {
 public:
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(Backend& backend, const KvCacheShape& shape,
                                                         int32_t block_size, int32_t num_blocks);

  const KvCacheShape& shape() const { return shape_; }
  int32_t block_size() const { return block_size_; }
  int32_t num_blocks() const { return num_blocks_; }
  int64_t bytes() const;

  kernels::KvCacheType type() const { return shape_.type; }
  void* k(int32_t layer) { return k_[layer]->data(); }
  void* v(int32_t layer) { return v_[layer]->data(); }

 private:
  KvCache(const KvCacheShape& shape, int32_t block_size, int32_t num_blocks)
      : shape_(shape), block_size_(block_size), num_blocks_(num_blocks) {}

  KvCacheShape shape_;
  int32_t block_size_;
  int32_t num_blocks_;
  std::vector<std::unique_ptr<DeviceBuffer>> k_;
  std::vector<std::unique_ptr<DeviceBuffer>> v_;
};

}  // namespace hobbit::runtime
