#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/base/half.h"
#include "kernels/cpu/thread_pool.h"

namespace hobbit::kernels {
namespace {

// Positions whose key (value) rows one pass reads together: each position's sum over d, and
// each out[d]'s sum over positions, keeps the order of one position at a time (the results are
// bit-identical), with kBlock independent chains of adds in flight instead of one.
constexpr int32_t kBlock = 8;

#if defined(__x86_64__)
// n halves to floats, 8 at a time with F16C (exact, as F16ToF32).
[[gnu::target("f16c,avx")]] void HalfRowF16c(const uint16_t* src, float* dst, int32_t n) {
  int32_t d = 0;
  for (; d + 8 <= n; d += 8) {
    _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + d))));
  }
  for (; d < n; ++d) dst[d] = F16ToF32(src[d]);
}

bool HaveF16c() {
  static const bool have = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  return have;
}
#endif

// A cache row of n elements as floats: float rows where they are; half rows converted into buf.
// Converting each element inside the dot product's loop (branchy or branch-free) ran decode after
// 400 positions 14-25 % slower than a float cache on the demo model (2 threads); with rows
// converted by F16C first it ran within the machine's spread of float (325-333 against 323-354
// tok/s).
const float* RowOf(const float* row, int32_t, float*) { return row; }
const float* RowOf(const uint16_t* row, int32_t n, float* buf) {
#if defined(__x86_64__)
  if (HaveF16c()) {
    HalfRowF16c(row, buf, n);
    return buf;
  }
#endif
  for (int32_t d = 0; d < n; ++d) buf[d] = F16ToF32(row[d]);
  return buf;
}

// T: the caches' element (float, or uint16_t for IEEE half); rows: scratch for kBlock converted
// rows.
template <class T>
void AttendOne(const PagedAttentionF32Params& p, int32_t t, int32_t h, std::vector<float>& scores,
               std::vector<float>& rows) {
  const int32_t group = p.n_head / p.n_head_kv;
  const int32_t kvh = h / group;
  const float* q = p.q + (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_k;
  float* out = p.out + (static_cast<int64_t>(t) * p.n_head + h) * p.head_dim_v;
  const int32_t n_ctx = p.token_pos[t] + 1;
  const int32_t* table = p.block_tables + static_cast<int64_t>(p.token_seq[t]) * p.max_blocks;
  const int64_t k_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_k;
  const int64_t v_stride = static_cast<int64_t>(p.n_head_kv) * p.head_dim_v;
  const int32_t dim = std::max(p.head_dim_k, p.head_dim_v);
  scores.resize(n_ctx);
  rows.resize(static_cast<size_t>(kBlock) * dim);
  // Row u of the scratch holds position j + u's converted row.
  const auto row_of = [&](const void* cache, int64_t stride, int32_t head_dim, int32_t j, int32_t u) {
    const int64_t slot = static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
    const T* row = static_cast<const T*>(cache) + slot * stride + static_cast<int64_t>(kvh) * head_dim;
    return RowOf(row, head_dim, rows.data() + static_cast<size_t>(u) * dim);
  };
  int32_t j = 0;
  for (; j + kBlock <= n_ctx; j += kBlock) {
    const float* k[kBlock];
    float dot[kBlock];
    for (int32_t u = 0; u < kBlock; ++u) {
      k[u] = row_of(p.k_cache, k_stride, p.head_dim_k, j + u, u);
      dot[u] = 0.0f;
    }
    for (int32_t d = 0; d < p.head_dim_k; ++d) {
      const float qd = q[d];
      for (int32_t u = 0; u < kBlock; ++u) dot[u] += qd * k[u][d];
    }
    for (int32_t u = 0; u < kBlock; ++u) scores[j + u] = dot[u] * p.scale;
  }
  for (; j < n_ctx; ++j) {
    const float* k = row_of(p.k_cache, k_stride, p.head_dim_k, j, 0);
    float dot = 0.0f;
    for (int32_t d = 0; d < p.head_dim_k; ++d) dot += q[d] * k[d];
    scores[j] = dot * p.scale;
  }
  float max = -INFINITY;
  for (j = 0; j < n_ctx; ++j) max = std::max(max, scores[j]);
  float sum = 0.0f;
  for (j = 0; j < n_ctx; ++j) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  std::fill(out, out + p.head_dim_v, 0.0f);
  for (j = 0; j + kBlock <= n_ctx; j += kBlock) {
    const float* v[kBlock];
    float w[kBlock];
    for (int32_t u = 0; u < kBlock; ++u) {
      v[u] = row_of(p.v_cache, v_stride, p.head_dim_v, j + u, u);
      w[u] = scores[j + u] / sum;
    }
    for (int32_t d = 0; d < p.head_dim_v; ++d) {
      float acc = out[d];
      for (int32_t u = 0; u < kBlock; ++u) acc += w[u] * v[u][d];
      out[d] = acc;
    }
  }
  for (; j < n_ctx; ++j) {
    const float* v = row_of(p.v_cache, v_stride, p.head_dim_v, j, 0);
    const float w = scores[j] / sum;
    for (int32_t d = 0; d < p.head_dim_v; ++d) out[d] += w * v[d];
  }
}

}  // namespace

void PagedAttentionF32(const PagedAttentionF32Params& p, ThreadPool* pool) {
  const int64_t items = static_cast<int64_t>(p.n_tokens) * p.n_head;
  auto run = [&](int64_t begin, int64_t end) {
    std::vector<float> scores, rows;
    for (int64_t i = begin; i < end; ++i) {
      const auto t = static_cast<int32_t>(i / p.n_head), h = static_cast<int32_t>(i % p.n_head);
      if (p.kv_type == KvCacheType::kF16) {
        AttendOne<uint16_t>(p, t, h, scores, rows);
      } else {
        AttendOne<float>(p, t, h, scores, rows);
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
