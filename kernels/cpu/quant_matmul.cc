#include "kernels/cpu/quant_matmul.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/quant/dot.h"
#include "kernels/quant/quant_types.h"

namespace hobbit::kernels {

absl::Status QuantMatMul(const QuantMatMulParams& p, ThreadPool* pool) {
  auto traits = GetGgmlTypeTraits(static_cast<uint32_t>(p.type));
  if (!traits || !QuantTypeSupported(p.type)) {
    return absl::InvalidArgumentError(absl::StrCat("matmul: weight type ", GgmlTypeName(p.type), " is not supported"));
  }
  if (p.cols % traits->block_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("matmul: row length ", p.cols, " of a ", std::string(traits->name),
                                                   " weight is not a multiple of its block size ",
                                                   traits->block_size));
  }
  const auto* base = static_cast<const uint8_t*>(p.w);
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      DotRowBatch(p.type, base + r * p.row_bytes, p.x, p.cols, p.n_tokens, p.cols, p.y + r, p.rows);
    }
  };
  // Rows are the parallel dimension; 16 rows per chunk keeps scheduling cheap for small matrices.
  if (pool && p.rows * p.cols * std::max<int64_t>(1, p.n_tokens) >= (1 << 15)) {
    pool->ParallelFor(p.rows, 16, run);
  } else {
    run(0, p.rows);
  }
  return absl::OkStatus();
}

}  // namespace hobbit::kernels
