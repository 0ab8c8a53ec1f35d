// BlockAllocator: the free list of the paged KV cache's fixed-size blocks.
//
// Sequences own blocks through their block tables (a list of block ids, one per block_size
// tokens); the scheduler allocates and frees them here. Allocation is all-or-nothing so a
// sequence never holds a partial reservation.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace hobbit::runtime {

// Not thread-safe: owned by the engine thread.
class BlockAllocator {
 public:
  explicit BlockAllocator(int32_t num_blocks);

  // n free block ids, or nullopt (and nothing taken) when fewer than n are free.
  std::optional<std::vector<int32_t>> Allocate(int32_t n);
  // Returns blocks to the pool. REQUIRES: each id was allocated and not yet freed.
  void Free(std::span<const int32_t> blocks);

  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t num_total() const { return num_total_; }

 private:
  int32_t num_total_;
  std::vector<int32_t> free_;
  std::vector<bool> in_use_;
};

}  // namespace hobbit::runtime
