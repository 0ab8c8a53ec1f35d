#include "runtime/kv/kv_cache.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/base/status_macros.h"

namespace hobbit::runtime {

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(Backend& backend, const KvCacheShape& shape,
                                                         int32_t block_size, int32_t num_blocks) {
  if (shape.n_layers <= 0 || shape.n_head_kv <= 0 || shape.head_dim_k <= 0 || shape.head_dim_v <= 0) {
    return absl::InvalidArgumentError("KV cache: layer count, KV heads and head dims must be positive");
  }
  if (block_size <= 0 || num_blocks <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: block_size (", block_size, ") and num_blocks (", num_blocks, ") must be positive"));
  }
  std::unique_ptr<KvCache> cache(new KvCache(shape, block_size, num_blocks));
  const size_t tokens = static_cast<size_t>(block_size) * static_cast<size_t>(num_blocks);
  const auto elem = static_cast<size_t>(kernels::KvCacheTypeBytes(shape.type));
  const size_t k_bytes = tokens * shape.n_head_kv * shape.head_dim_k * elem;
  const size_t v_bytes = tokens * shape.n_head_kv * shape.head_dim_v * elem;
  for (int32_t l = 0; l < shape.n_layers; ++l) {
    HOBBIT_ASSIGN_OR_RETURN(auto k, backend.Allocate(k_bytes, absl::StrCat("KV cache keys of layer ", l)));
    HOBBIT_ASSIGN_OR_RETURN(auto v, backend.Allocate(v_bytes, absl::StrCat("KV cache values of layer ", l)));
    cache->k_.push_back(std::move(k));
    cache->v_.push_back(std::move(v));
  }
  return cache;
}

int64_t KvCache::bytes() const { return shape_.BytesPerToken() * block_size_ * num_blocks_; }

}  // namespace hobbit::runtime
