#include "runtime/kv/block_allocator.h"

#include "absl/base/internal/raw_logging.h"

namespace hobbit::runtime {

BlockAllocator::BlockAllocator(int32_t num_blocks) : num_total_(num_blocks), in_use_(num_blocks, false) {
  ABSL_RAW_CHECK(num_blocks >= 0, "negative KV block count");
  free_.reserve(num_blocks);
  // Hand out low ids first: keeps a short-lived test's KV in the first blocks.
  for (int32_t i = num_blocks - 1; i >= 0; --i) free_.push_back(i);
}

std::optional<std::vector<int32_t>> BlockAllocator::Allocate(int32_t n) {
  if (n < 0 || n > num_free()) return std::nullopt;
  std::vector<int32_t> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - n);
  for (int32_t b : out) in_use_[b] = true;
  return out;
}

void BlockAllocator::Free(std::span<const int32_t> blocks) {
  for (int32_t b : blocks) {
    ABSL_RAW_CHECK(b >= 0 && b < num_total_ && in_use_[b], "freeing a KV block that is not in use");
    in_use_[b] = false;
    free_.push_back(b);
  }
}

}  // namespace hobbit::runtime
