#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/base/half.h"
#include "kernels/cpu/thread_pool.h"

namespace hobbit::kernels {
namespace {

inline float Elem(const float* row, int32_t d) { return row[d]; }
inline float Elem(const uint16_t* row, int32_t d) { return F16ToF32(row[d]); }

// T: the caches' element (float, or uint16_t for IEEE half).
template <class T>
void AttendOne(const PagedAttentionF32Params& p, int32_t t, int32_t h, std::vector<float>& scores) {
  const int32_t group = p.n_head / p.n_head_kv;
  const int32_t kvh = h / group;
  const float* q = p.q + (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_k;
  float* out = p.out + (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_v;
  const int32_t n_ctx = p.token_pos[t] + 1;
  const int32_t* table = p.block_tables + static_cast<int64_t>(p.token_seq[t]) * p.max_blocks;
  const int64_t k_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_k;
  const int64_t v_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_v;
  scores.resize(n_ctx);
  float max = -INFINITY;
  for (int32_t j = 0; j < n_ctx; ++j) {
    const int64_t slot = static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
    const T* k = static_cast<const T*>(p.k_cache) + slot * k_stride + static_cast<int64_t>(kvh) * p.head_dim_k;
    float dot = 0.0f;
    for (int32_t d = 0; d < p.head_dim_k; ++d) dot += q[d] * Elem(k, d);
    scores[j] = dot * p.scale;
    max = std::max(max, scores[j]);
  }
  float sum = 0.0f;
  for (int32_t j = 0; j < n_ctx; ++j) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  std::fill(out, out + p.head_dim_v, 0.0f);
  for (int32_t j = 0; j < n_ctx; ++j) {
    const int64_t slot = static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
    const T* v = static_cast<const T*>(p.v_cache) + slot * v_stride + static_cast<int64_t>(kvh) * p.head_dim_v;
    const float w = scores[j] / sum;
    for (int32_t d = 0; d < p.head_dim_v; ++d) out[d] += w * Elem(v, d);
  }
}

}  // namespace

void PagedAttentionF32(const PagedAttentionF32Params& p, ThreadPool* pool) {
  const int64_t items = static_cast<int64_t>(p.n_tokens) * p.n_head;
  auto run = [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t i = begin; i < end; ++i) {
      const auto t = static_cast<int32_t>(i / p.n_head), h = static_cast<int32_t>(i % p.n_head);
      if (p.kv_type == KvCacheType::kF16) {
        AttendOne<uint16_t>(p, t, h, scores);
      } else {
        AttendOne<float>(p, t, h, scores);
      }
    }
  };
  if (pool) {
    pool->ParallelFor(items, 1, run);
  } else {
    run(0, items);
  }
}

}  // namespace hobbit::kernels
