#include "runtime/backend/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/half.h"
#include "kernels/base/status_macros.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/quant_matmul.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/router_topk.h"
#include "kernels/cpu/silu_mul.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/quant/dequantize.h"
#include "kernels/quant/quant_types.h"

namespace hobbit::runtime {
namespace {

using kernels::GgmlType;

class ArenaBuffer final : public DeviceBuffer {
 public:
  ArenaBuffer(void* data, size_t bytes, std::shared_ptr<std::atomic<int64_t>> counter)
      : data_(data), bytes_(bytes), counter_(std::move(counter)) {}
  ~ArenaBuffer() override {
    std::free(data_);
    counter_->fetch_sub(static_cast<int64_t>(bytes_));
  }
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
  std::shared_ptr<std::atomic<int64_t>> counter_;
};

// Host memory for copies: plain aligned memory (the CPU has no pinned/pageable distinction).
class PlainHostBuffer final : public HostBuffer {
 public:
  PlainHostBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  ~PlainHostBuffer() override { std::free(data_); }
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

class NoRegistration final : public HostRegistration {};

absl::Status CheckWeight(const WeightView& w, std::string_view op) {
  auto traits = kernels::GetGgmlTypeTraits(w.type);
  if (!traits || !kernels::QuantTypeSupported(static_cast<GgmlType>(w.type))) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(op), ": weight type ", kernels::GgmlTypeName(w.type),
                                                   " is not supported"));
  }
  return absl::OkStatus();
}

}  // namespace

CpuBackend::CpuBackend(const CpuBackendOptions& options)
    : options_(options),
      pool_(std::make_unique<kernels::ThreadPool>(options.threads)),
      allocated_(std::make_shared<std::atomic<int64_t>>(0)) {}

CpuBackend::~CpuBackend() = default;

absl::StatusOr<std::unique_ptr<DeviceBuffer>> CpuBackend::Allocate(size_t bytes, std::string_view what) {
  const int64_t want = static_cast<int64_t>(bytes);
  const int64_t before = allocated_->fetch_add(want);
  if (options_.memory_budget > 0 && before + want > options_.memory_budget) {
    allocated_->fetch_sub(want);
    return absl::ResourceExhaustedError(absl::StrCat("out of backend memory allocating ", std::string(what), ": ", bytes,
                                                     " bytes wanted, ", options_.memory_budget - before,
                                                     " of the budget of ", options_.memory_budget, " left"));
  }
  // 64-byte alignment for vector loads; round the size up as aligned_alloc requires.
  const size_t padded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void* data = std::aligned_alloc(64, padded);
  if (data == nullptr) {
    allocated_->fetch_sub(want);
    return absl::ResourceExhaustedError(absl::StrCat("out of host memory allocating ", std::string(what), ": ", bytes, " bytes"));
  }
  return std::make_unique<ArenaBuffer>(data, bytes, allocated_);
}

absl::StatusOr<WeightView> CpuBackend::UploadWeight(const WeightView& host, std::string_view name) {
  auto status = CheckWeight(host, "upload");
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("tensor ", std::string(name), ": ", status.message()));
  return host;
}

absl::Status CpuBackend::CopyToDevice(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HostBuffer>> CpuBackend::AllocateHost(size_t bytes, std::string_view what) {
  const size_t padded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void* data = std::aligned_alloc(64, padded);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("out of host memory allocating ", std::string(what), ": ", bytes, " bytes"));
  }
  return std::make_unique<PlainHostBuffer>(data, bytes);
}

absl::StatusOr<std::unique_ptr<HostRegistration>> CpuBackend::RegisterHost(const void*, size_t, std::string_view) {
  return std::make_unique<NoRegistration>();
}

absl::StatusOr<CopyFence> CpuBackend::CopyToDeviceAsync(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return ++copies_;
}

absl::StatusOr<bool> CpuBackend::CopyDone(CopyFence fence) {
  if (fence > copies_) return absl::InvalidArgumentError(absl::StrCat("copy fence ", fence, " was never issued"));
  return true;
}

absl::Status CpuBackend::WaitCopy(CopyFence fence) { return CopyDone(fence).status(); }

absl::Status CpuBackend::CopyToHost(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return absl::OkStatus();
}

absl::Status CpuBackend::GetRows(const WeightView& table, const int32_t* ids_host, int32_t n, float* out) {
  HOBBIT_RETURN_IF_ERROR(CheckWeight(table, "get_rows"));
  const auto* base = static_cast<const uint8_t*>(table.data);
  for (int32_t i = 0; i < n; ++i) {
    if (ids_host[i] < 0 || ids_host[i] >= table.rows) {
      return absl::InvalidArgumentError(absl::StrCat("get_rows: id ", ids_host[i], " out of range [0, ", table.rows, ")"));
    }
    HOBBIT_RETURN_IF_ERROR(kernels::DequantizeRow(static_cast<GgmlType>(table.type),
                                                  base + ids_host[i] * table.row_bytes, out + i * table.cols,
                                                  table.cols));
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::MatMul(const WeightView& w, const float* x, int32_t n_tokens, float* y) {
  kernels::QuantMatMulParams p;
  p.type = static_cast<GgmlType>(w.type);
  p.w = w.data;
  p.rows = w.rows;
  p.cols = w.cols;
  p.row_bytes = w.row_bytes;
  p.x = x;
  p.n_tokens = n_tokens;
  p.y = y;
  return kernels::QuantMatMul(p, pool_.get());
}

absl::Status CpuBackend::RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                                 float* out) {
  kernels::RmsNormF32(x, weight, n_rows, dim, eps, out, pool_.get());
  return absl::OkStatus();
}

absl::Status CpuBackend::Rope(const RopeParams& p) {
  if (p.n_rot % 2 != 0 || p.n_rot > p.head_dim) {
    return absl::InvalidArgumentError(absl::StrCat("rope: n_rot ", p.n_rot, " must be even and <= head_dim ", p.head_dim));
  }
  HOBBIT_RETURN_IF_ERROR(CheckRopeExtras(p));
  if (p.head_norm != nullptr) {
    HOBBIT_RETURN_IF_ERROR(
        RmsNorm(p.x, p.head_norm, int64_t{p.n_tokens} * p.n_heads, p.head_dim, p.head_norm_eps, p.x));
  }
  if (p.head_norm2 != nullptr) {
    HOBBIT_RETURN_IF_ERROR(
        RmsNorm(p.x2, p.head_norm2, int64_t{p.n_tokens} * p.n_heads2, p.head_dim, p.head_norm_eps, p.x2));
  }
  kernels::RopeF32Params k;
  k.x = p.x;
  k.positions = p.positions;
  k.n_tokens = p.n_tokens;
  k.n_heads = p.n_heads;
  k.head_dim = p.head_dim;
  k.n_rot = p.n_rot;
  k.freq_base = p.freq_base;
  k.freq_scale = p.freq_scale;
  k.half_split = p.style == RopeStyle::kHalfSplit;
  kernels::RopeF32(k);
  if (p.x2 != nullptr) {
    k.x = p.x2;
    k.n_heads = p.n_heads2;
    kernels::RopeF32(k);
  }
  if (p.kv_write != nullptr) return WriteKv(*p.kv_write);
  return absl::OkStatus();
}

absl::Status CpuBackend::WriteKv(const KvWriteParams& p) {
  const int64_t elem = kernels::KvCacheTypeBytes(p.kv_type);
  // One row of `n` floats to the cache row at `dst` (half: rounded to nearest even).
  const auto put = [&](const float* src, void* dst, int64_t n) {
    if (p.kv_type == kernels::KvCacheType::kF32) {
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    }
    auto* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = kernels::F32ToF16(src[i]);
  };
  for (int32_t t = 0; t < p.n_tokens; ++t) {
    const int64_t slot = p.slots[t];
    put(p.k + static_cast<int64_t>(t) * p.k_row, static_cast<uint8_t*>(p.k_cache) + slot * p.k_row * elem, p.k_row);
    put(p.v + static_cast<int64_t>(t) * p.v_row, static_cast<uint8_t*>(p.v_cache) + slot * p.v_row * elem, p.v_row);
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::Attention(const AttentionParams& p) {
  if (p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention: ", p.n_head, " heads are not a multiple of ",
                                                   p.n_head_kv, " KV heads"));
  }
  kernels::PagedAttentionF32Params k;
  k.q = p.q;
  k.out = p.out;
  k.n_tokens = p.n_tokens;
  k.n_head = p.n_head;
  k.n_head_kv = p.n_head_kv;
  k.head_dim_k = p.head_dim_k;
  k.head_dim_v = p.head_dim_v;
  k.scale = p.scale;
  k.k_cache = p.k_cache;
  k.v_cache = p.v_cache;
  k.kv_type = p.kv_type;
  k.block_size = p.block_size;
  k.token_seq = p.token_seq;
  k.token_pos = p.token_pos;
  k.block_tables = p.block_tables;
  k.max_blocks = p.max_blocks;
  kernels::PagedAttentionF32(k, pool_.get());
  return absl::OkStatus();
}

absl::Status CpuBackend::SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  kernels::SiluMulF32(gate, up, n, out);
  return absl::OkStatus();
}

absl::Status CpuBackend::Add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  return absl::OkStatus();
}

absl::Status CpuBackend::Fill(float* x, float value, int64_t n) {
  std::fill(x, x + n, value);
  return absl::OkStatus();
}

absl::Status CpuBackend::AddRowBias(float* x, const float* bias, int64_t n_rows, int64_t dim) {
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < dim; ++i) x[r * dim + i] += bias[i];
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::Router(const RouterParams& p) {
  if (p.k <= 0 || p.k > p.n_expert) {
    return absl::InvalidArgumentError(absl::StrCat("router: k = ", p.k, " with ", p.n_expert, " experts"));
  }
  const bool device = p.ids_device != nullptr && p.weights_device != nullptr;  // backend memory is host memory
  kernels::RouterTopKF32(p.logits, p.n_tokens, p.n_expert, p.k, p.renormalize, device ? p.ids_device : p.ids_host,
                         device ? p.weights_device : p.weights_host);
  return absl::OkStatus();
}

bool CpuBackend::RoutedExpertsCanRun(const RoutedExpertsParams& p) {
  if (p.n_tokens < 1 || p.n_tokens > kRoutedExpertsMaxTokens || p.k < 1 || p.gate.empty() ||
      p.up.size() != p.gate.size() || p.down.size() != p.gate.size()) {
    return false;
  }
  for (const std::span<const WeightView>* m : {&p.gate, &p.up, &p.down}) {
    for (const WeightView& w : *m) {
      if (!CheckWeight(w, "routed experts").ok()) return false;
    }
  }
  return true;
}

absl::Status CpuBackend::RoutedExperts(const RoutedExpertsParams& p) {
  if (!RoutedExpertsCanRun(p)) {
    return absl::InvalidArgumentError(absl::StrCat("routed experts: cannot run ", p.n_tokens, " tokens x top-", p.k,
                                                   " over ", p.gate.size(), " experts"));
  }
  const int64_t n_embd = p.gate[0].cols, n_ff = p.gate[0].rows;
  std::vector<float> gate(static_cast<size_t>(n_ff)), up(gate.size()), down(static_cast<size_t>(n_embd));
  std::vector<float> sum(static_cast<size_t>(n_embd));
  for (int32_t t = 0; t < p.n_tokens; ++t) {
    const float* x = p.x + t * n_embd;
    // The token's experts are summed first and then added to out, as the CUDA kernel does: out may
    // be the residual stream itself (Model::MoeBlock), and out + (a + b) is what the model's
    // host-routed way computes there.
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (int32_t j = 0; j < p.k; ++j) {
      const int32_t e = p.ids[t * p.k + j];
      if (e < 0 || e >= static_cast<int32_t>(p.gate.size())) {
        return absl::InvalidArgumentError(absl::StrCat("routed experts: expert id ", e, " of ", p.gate.size()));
      }
      HOBBIT_RETURN_IF_ERROR(MatMul(p.gate[e], x, 1, gate.data()));
      HOBBIT_RETURN_IF_ERROR(MatMul(p.up[e], x, 1, up.data()));
      kernels::SiluMulF32(gate.data(), up.data(), n_ff, gate.data());
      HOBBIT_RETURN_IF_ERROR(MatMul(p.down[e], gate.data(), 1, down.data()));
      const float w = p.weights[t * p.k + j];
      for (int64_t c = 0; c < n_embd; ++c) sum[c] += w * down[c];
    }
    float* out = p.out + t * n_embd;
    for (int64_t c = 0; c < n_embd; ++c) out[c] += sum[c];
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::GatherRows(const float* src, const int32_t* rows_host, int32_t n, int64_t dim, float* dst) {
  for (int32_t i = 0; i < n; ++i) std::memcpy(dst + i * dim, src + rows_host[i] * dim, dim * sizeof(float));
  return absl::OkStatus();
}

absl::Status CpuBackend::ScatterAddScaled(const float* src, const int32_t* rows_host, const float* scales_host,
                                          int32_t n, int64_t dim, float* dst) {
  for (int32_t i = 0; i < n; ++i) {
    float* d = dst + rows_host[i] * dim;
    const float* s = src + i * dim;
    const float w = scales_host[i];
    for (int64_t j = 0; j < dim; ++j) d[j] += w * s[j];
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::ScaleRowsBySigmoid(float* x, const float* gate, int64_t n_rows, int64_t dim) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float s = 1.0f / (1.0f + std::exp(-gate[r]));
    for (int64_t i = 0; i < dim; ++i) x[r * dim + i] *= s;
  }
  return absl::OkStatus();
}

}  // namespace hobbit::runtime
