// CudaBackend's decode products (cuda_backend.h): matrix products on the int8-activation path,
// several over one input in one launch, adding into the residual stream, the int8 copies that
// RmsNormForProducts and Attention leave for them, and the routed experts over the router's
// choice in device memory. The rest of the backend is in cuda_backend.cc.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "kernels/cuda/fill.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/f16_operands.h"
#include "kernels/cuda/quant_matvec.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/routed_experts.h"
#include "runtime/backend/cuda_backend.h"
#include "runtime/backend/cuda_staging_ring.h"

namespace hobbit::runtime {

using kernels::GgmlType;

absl::Status CudaBackend::MatMul(const WeightView& w, const float* x, int32_t n_tokens, float* y) {
  Wrote(y);
  bool quantized = false;
  return MatMulImpl(w, x, n_tokens, y, /*x_quantized=*/false, &quantized);
}

absl::Status CudaBackend::MatMuls(std::span<const WeightView* const> ws, const float* x, int32_t n_tokens,
                                  std::span<float* const> ys) {
  if (ws.size() != ys.size()) return absl::InvalidArgumentError("matmuls: as many outputs as weights needed");
  for (const WeightView* w : ws) {
    if (w->cols != ws[0]->cols) {
      return absl::InvalidArgumentError(absl::StrCat("matmuls: products over one input need one width, got ",
                                                     ws[0]->cols, " and ", w->cols, " columns"));
    }
  }
  for (float* y : ys) Wrote(y);
  bool quantized = false;  // matvec_scratch_ holds x quantized (not the norm's copy: see norm_q8)
  std::vector<bool> done(ws.size(), false);
  if (options_.int8_activations && ws.size() > 1) {
    // Products of one type on the int8 path run as one launch (kernels::QuantMatVecGroup), over
    // activations quantized once: attention's k and v (1024 rows on mixtral) are too short to
    // reach bandwidth in launches of their own.
    const size_t need = kernels::QuantMatVecScratchBytes(ws[0]->cols, kernels::kQuantMatVecMaxTokens);
    HOBBIT_RETURN_IF_ERROR(Reserve(matvec_scratch_, need, "matvec scratch"));
    // x quantized by RmsNormForProducts: every product reads that copy (looked up after the
    // Reserve above, though a growing matvec scratch leaves the copy as it is).
    void* norm_q8 = NormQ8For(x, n_tokens, ws[0]->cols);
    for (size_t i = 0; i < ws.size(); ++i) {
      std::array<kernels::QuantMatVecParams, kernels::kQuantMatVecMaxGroup> group;
      std::array<size_t, kernels::kQuantMatVecMaxGroup> members;
      size_t n = 0;
      for (size_t j = i; j < ws.size() && n < group.size(); ++j) {
        if (done[j] || ws[j]->type != ws[i]->type || !CheckWeight(*ws[j], "matmul").ok()) continue;
        kernels::QuantMatVecParams mv{.type = static_cast<GgmlType>(ws[j]->type), .w = ws[j]->data,
                                      .rows = ws[j]->rows, .cols = ws[j]->cols, .row_bytes = ws[j]->row_bytes,
                                      .x = x, .n_tokens = n_tokens, .y = ys[j],
                                      .scratch = norm_q8 != nullptr ? norm_q8 : matvec_scratch_->data(),
                                      .scratch_bytes = norm_q8 != nullptr ? norm_q8_->bytes() : matvec_scratch_->bytes()};
        if (!kernels::QuantMatVecQuantizesX(mv)) continue;
        group[n] = mv;
        members[n++] = j;
      }
      const std::span<const kernels::QuantMatVecParams> products(group.data(), n);
      if (n < 2 || !kernels::QuantMatVecGroupCanRun(products)) continue;
      group[0].x_quantized = quantized || norm_q8 != nullptr;
      HOBBIT_RETURN_IF_ERROR(kernels::QuantMatVecGroup(products, stream_));
      // A group over the norm's copy wrote nothing into matvec_scratch_; the products left take
      // the copy again in MatMulImpl.
      if (norm_q8 == nullptr) quantized = true;
      for (size_t k = 0; k < n; ++k) done[members[k]] = true;
    }
  }
  for (size_t i = 0; i < ws.size(); ++i) {
    if (done[i]) continue;
    HOBBIT_RETURN_IF_ERROR(MatMulImpl(*ws[i], x, n_tokens, ys[i], quantized, &quantized));
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::MatMulAdd(const WeightView& w, const float* x, int32_t n_tokens, float* tmp, float* y) {
  HOBBIT_RETURN_IF_ERROR(CheckWeight(w, "matmul"));
  Wrote(tmp);
  Wrote(y);
  kernels::QuantMatVecParams mv{.type = static_cast<GgmlType>(w.type), .w = w.data, .rows = w.rows, .cols = w.cols,
                                .row_bytes = w.row_bytes, .x = x, .n_tokens = n_tokens, .y = y, .accumulate = true};
  if (kernels::QuantMatVecCanRun(mv) && options_.int8_activations) {
    HOBBIT_RETURN_IF_ERROR(
        Reserve(matvec_scratch_, kernels::QuantMatVecScratchBytes(mv.cols, kernels::kQuantMatVecMaxTokens),
                "matvec scratch"));
    mv.scratch = matvec_scratch_->data();
    mv.scratch_bytes = matvec_scratch_->bytes();
    if (void* q8 = NormQ8For(x, n_tokens, w.cols); q8 != nullptr) {
      mv.scratch = q8;
      mv.scratch_bytes = norm_q8_->bytes();
      mv.x_quantized = kernels::QuantMatVecQuantizesX(mv);
    }
  }
  // The product's kernel adds into y (the kernel MatMul would run, so the same sums); elsewhere
  // MatMul into tmp and Add.
  if (kernels::QuantMatVecCanAccumulate(mv)) return kernels::QuantMatVec(mv, stream_);
  return Backend::MatMulAdd(w, x, n_tokens, tmp, y);
}

absl::Status CudaBackend::MatMulImpl(const WeightView& w, const float* x, int32_t n_tokens, float* y,
                                     bool x_quantized, bool* quantized) {
  *quantized = false;
  HOBBIT_RETURN_IF_ERROR(CheckWeight(w, "matmul"));
  // Quantized weights, up to twice the matrix-vector kernel's tokens: two of its passes read the
  // blocks twice, less than decoding them into a tile and reading that (3-5x the stored bytes).
  constexpr int32_t kMax = kernels::kQuantMatVecMaxTokens;
  const auto type = static_cast<GgmlType>(w.type);
  kernels::QuantMatVecParams pass{.type = type, .w = w.data, .rows = w.rows, .cols = w.cols,
                                .row_bytes = w.row_bytes, .x = x, .n_tokens = kMax, .y = y};
  if (n_tokens > kMax && n_tokens <= 2 * kMax && options_.int8_activations &&
      kernels::DequantizeF16CanRun(type, w.cols) && kernels::QuantMatVecCanRun(pass)) {
    // The scratch then holds the second pass's tokens only: *quantized stays false.
    bool pass_quantized = false;
    HOBBIT_RETURN_IF_ERROR(MatMulImpl(w, x, kMax, y, /*x_quantized=*/false, &pass_quantized));
    return MatMulImpl(w, x + int64_t{kMax} * w.cols, n_tokens - kMax, y + int64_t{kMax} * w.rows,
                      /*x_quantized=*/false, &pass_quantized);
  }
  kernels::CudaQuantMatMulParams p{.type = type, .w = w.data, .rows = w.rows,
                                   .cols = w.cols, .row_bytes = w.row_bytes, .x = x, .n_tokens = n_tokens, .y = y,
                                   .f16 = options_.prefill_precision == PrefillPrecision::kF16};
  kernels::QuantMatVecParams mv{.type = p.type, .w = p.w, .rows = p.rows, .cols = p.cols,
                                .row_bytes = p.row_bytes, .x = x, .n_tokens = n_tokens, .y = y};
  if (kernels::QuantMatVecCanRun(mv)) {
    if (options_.int8_activations) {
      // Sized for the most tokens, so the buffer grows (and the stream syncs) once per width.
      const size_t need = kernels::QuantMatVecScratchBytes(mv.cols, kernels::kQuantMatVecMaxTokens);
      const uint64_t epoch = buffers_epoch_;
      HOBBIT_RETURN_IF_ERROR(Reserve(matvec_scratch_, need, "matvec scratch"));
      mv.scratch = matvec_scratch_->data();
      mv.scratch_bytes = matvec_scratch_->bytes();
      const bool int8 = kernels::QuantMatVecQuantizesX(mv);
      // Reuse needs the same scratch (a regrown one holds nothing, even at the same address)
      // and the int8 path again.
      mv.x_quantized = x_quantized && int8 && buffers_epoch_ == epoch;
      *quantized = int8;
      if (void* q8 = NormQ8For(x, n_tokens, w.cols); q8 != nullptr && int8) {
        // RmsNormForProducts quantized x already (what this call would make); the matvec scratch
        // is left as it was.
        mv.scratch = q8;
        mv.scratch_bytes = norm_q8_->bytes();
        mv.x_quantized = true;
        *quantized = false;
      }
    }
    return kernels::QuantMatVec(mv, stream_);
  }
  // cuBLAS may allocate inside a capture (a graph allocation that is never freed): not recorded.
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("a cuBLAS product"));
  // Sized for a power of two of tokens (at least 64): a prefill's experts each bring another
  // token count, and every growth drains the stream. A count that is not a multiple of the
  // padding also needs room for the padded product (none for the power of two), hence the max.
  kernels::CudaQuantMatMulParams sized = p;
  sized.n_tokens = static_cast<int32_t>(std::bit_ceil(static_cast<uint32_t>(std::max(n_tokens, 64))));
  const size_t need = std::max(kernels::QuantMatMulWorkspaceBytes(sized, options_.matmul_workspace_bytes),
                               kernels::QuantMatMulWorkspaceBytes(p, options_.matmul_workspace_bytes));
  HOBBIT_RETURN_IF_ERROR(Reserve(workspace_, need, "matmul workspace"));
  return kernels::CudaQuantMatMul(p, workspace_->data(), workspace_->bytes(), cublas_, stream_);
}

absl::Status CudaBackend::RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                                  float* out) {
  Wrote(out);
  return kernels::RmsNormF32({.x = x, .weight = weight, .n_rows = n_rows, .dim = dim, .eps = eps, .out = out},
                             stream_);
}

absl::Status CudaBackend::RmsNormForProducts(const float* x, const float* weight, int64_t n_rows, int64_t dim,
                                             float eps, float* out) {
  norm_q8_x_ = nullptr;
  const kernels::RmsNormParams p{.x = x, .weight = weight, .n_rows = n_rows, .dim = dim, .eps = eps, .out = out};
  if (!options_.int8_activations || n_rows > kernels::kQuantMatVecMaxTokens) {
    return RmsNorm(x, weight, n_rows, dim, eps, out);
  }
  // Laid out as QuantMatVec's scratch for n_rows rows (what the products would quantize into).
  HOBBIT_RETURN_IF_ERROR(ReserveNormQ8(kernels::QuantMatVecScratchBytes(dim, kernels::kQuantMatVecMaxTokens)));
  if (!kernels::RmsNormQuantizeCanRun(p, norm_q8_->data())) return RmsNorm(x, weight, n_rows, dim, eps, out);
  HOBBIT_RETURN_IF_ERROR(kernels::RmsNormQuantizeF32(p, norm_q8_->data(), stream_));
  NormQ8Made(out, n_rows, dim);
  return absl::OkStatus();
}

absl::Status CudaBackend::RmsNormRoute(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                                       float* out, const WeightView& router, float* logits,
                                       const RouterParams& rp) {
  const kernels::RmsNormParams p{.x = x, .weight = weight, .n_rows = n_rows, .dim = dim, .eps = eps, .out = out};
  kernels::NormRouteParams r{.w = router.data,
                             .type = static_cast<GgmlType>(router.type),
                             .row_bytes = router.row_bytes,
                             .n_expert = rp.n_expert,
                             .k = rp.k,
                             .renormalize = rp.renormalize,
                             .logits = logits,
                             .ids = rp.ids_device,
                             .weights = rp.weights_device};
  // The choice stays on the device (RoutedExperts reads it there) and the norm would quantize.
  const bool fits = options_.int8_activations && rp.n_tokens == n_rows && router.rows == rp.n_expert &&
                    router.cols == dim && n_rows <= kernels::kQuantMatVecMaxTokens;
  if (!fits || rp.ids_device == nullptr || rp.weights_device == nullptr) {
    return Backend::RmsNormRoute(x, weight, n_rows, dim, eps, out, router, logits, rp);
  }
  // The kernel's limits first, without the two buffers reserved below (device memory from
  // cudaMalloc is 256-byte aligned): a router the kernel cannot take costs no allocation and no new
  // buffer epoch (which would drop the CUDA graphs recorded over the old buffers).
  if (!kernels::RmsNormQuantizeRouteFits(p, r)) {
    return Backend::RmsNormRoute(x, weight, n_rows, dim, eps, out, router, logits, rp);
  }
  norm_q8_x_ = nullptr;
  HOBBIT_RETURN_IF_ERROR(ReserveNormQ8(kernels::QuantMatVecScratchBytes(dim, kernels::kQuantMatVecMaxTokens)));
  const size_t scratch_bytes = kernels::NormRouteScratchBytes(kernels::kNormRouteMaxRows, dim, rp.n_expert);
  if (!route_scratch_ || route_scratch_->bytes() < scratch_bytes) {
    HOBBIT_RETURN_IF_ERROR(Reserve(route_scratch_, scratch_bytes, "router scratch"));
    if (absl::Status s = kernels::FillF32(route_scratch_->as<float>(), 0.0f,
                                          static_cast<int64_t>(route_scratch_->bytes() / sizeof(float)), stream_);
        !s.ok()) {
      route_scratch_.reset();  // never used unzeroed: the kernel's counter must start at zero
      return s;
    }
  }
  r.scratch = route_scratch_->data();
  HOBBIT_RETURN_IF_ERROR(kernels::RmsNormQuantizeRouteF32(p, norm_q8_->data(), r, stream_));
  NormQ8Made(out, n_rows, dim);
  return absl::OkStatus();
}

absl::Status CudaBackend::ReserveNormQ8(size_t bytes) {
  if (norm_q8_ && norm_q8_->bytes() >= bytes) return absl::OkStatus();
  norm_q8_x_ = nullptr;
  ++norm_q8_generation_;
  return Reserve(norm_q8_, bytes, "int8 copy of activations");
}

void* CudaBackend::NormQ8For(const float* x, int64_t n_tokens, int64_t cols) const {
  if (x == nullptr || x != norm_q8_x_ || n_tokens != norm_q8_rows_ || cols != norm_q8_dim_ ||
      norm_q8_made_in_ != norm_q8_generation_ || !norm_q8_) {
    return nullptr;
  }
  return norm_q8_->data();
}


const void* const* CudaBackend::ExpertTable(std::span<const WeightView> views) {
  if (views.empty()) return nullptr;
  auto it = expert_tables_.find(views[0].data);
  if (it != expert_tables_.end()) return it->second ? static_cast<const void* const*>(it->second->data()) : nullptr;
  std::vector<const void*> addresses;
  bool fits = true;
  for (const WeightView& v : views) {
    fits = fits && v.type == views[0].type && v.rows == views[0].rows && v.cols == views[0].cols &&
           v.row_bytes == views[0].row_bytes &&
           kernels::RoutedMatrixAddressFits(static_cast<GgmlType>(v.type), v.data);
    addresses.push_back(v.data);
  }
  // A table that cannot be made (an address the kernel cannot take, or no device memory for it)
  // is remembered as none: these experts then run the host-routed way, which needs no table.
  std::unique_ptr<DeviceBuffer> table;
  if (fits) {
    absl::StatusOr<std::unique_ptr<DeviceBuffer>> buffer = Allocate(addresses.size() * sizeof(void*), "expert table");
    if (buffer.ok() && staging_->CopyToDevice((*buffer)->data(), addresses.data(), addresses.size() * sizeof(void*)).ok()) {
      table = std::move(*buffer);
    }
  }
  const void* const* result = table ? static_cast<const void* const*>(table->data()) : nullptr;
  expert_tables_[views[0].data] = std::move(table);
  return result;
}

namespace {

kernels::RoutedMatrix Matrix(const WeightView& first, const void* const* table) {
  return {.type = static_cast<GgmlType>(first.type), .rows = first.rows, .cols = first.cols,
          .row_bytes = first.row_bytes, .table = table};
}

}  // namespace

std::optional<kernels::RoutedExpertsParams> CudaBackend::RoutedKernelParams(const RoutedExpertsParams& p) {
  if (p.gate.empty() || p.up.size() != p.gate.size() || p.down.size() != p.gate.size()) return std::nullopt;
  // Past kRoutedExpertsMaxTokens the choice comes from the host (grouped by expert in RoutedExperts).
  const bool host_choice = p.n_tokens > kRoutedExpertsMaxTokens;
  if (p.n_tokens < 1 || (host_choice && (p.ids_host == nullptr || p.weights_host == nullptr))) return std::nullopt;
  for (const std::span<const WeightView>* m : {&p.gate, &p.up, &p.down}) {
    // Quantized weights need int8 activations here; without them the experts run the host-routed way.
    const auto type = static_cast<GgmlType>((*m)[0].type);
    if (!options_.int8_activations && type != GgmlType::kF32 && type != GgmlType::kF16 && type != GgmlType::kBF16) {
      return std::nullopt;
    }
  }
  const void* const* gate = ExpertTable(p.gate);
  const void* const* up = ExpertTable(p.up);
  const void* const* down = ExpertTable(p.down);
  if (gate == nullptr || up == nullptr || down == nullptr) return std::nullopt;
  kernels::RoutedExpertsParams k{.gate = Matrix(p.gate[0], gate), .up = Matrix(p.up[0], up),
                                 .down = Matrix(p.down[0], down), .n_expert = static_cast<int32_t>(p.gate.size()),
                                 .x = p.x, .ids = p.ids, .weights = p.weights, .n_tokens = p.n_tokens, .k = p.k,
                                 .out = p.out};
  // A host choice is grouped by expert (GroupChoiceByExpert, at most one group per expert and pair)
  // only once the call runs; here its shape is checked.
  if (!kernels::RoutedExpertsShapeFits(k, host_choice, std::min<int32_t>(k.n_expert, p.n_tokens * p.k))) {
    return std::nullopt;
  }
  return k;
}

absl::Status CudaBackend::GroupChoiceByExpert(const RoutedExpertsParams& p, kernels::RoutedExpertsParams& k) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("routed experts (host choice)"));
  const int32_t pairs = p.n_tokens * p.k;
  const int32_t n_expert = k.n_expert;
  // One upload: ids, weights, then per group its expert, the groups' starts, the pairs by expert.
  std::vector<int32_t> count(n_expert, 0);
  for (int32_t q = 0; q < pairs; ++q) {
    const int32_t e = p.ids_host[q];
    if (e >= 0 && e < n_expert) ++count[e];
  }
  std::vector<int32_t> group_expert, start = {0};
  for (int32_t e = 0; e < n_expert; ++e) {
    if (count[e] == 0) continue;
    group_expert.push_back(e);
    start.push_back(start.back() + count[e]);
  }
  const auto n_groups = static_cast<int32_t>(group_expert.size());
  if (n_groups == 0) {  // no id in range: nothing to add (as the kernels skip such pairs)
    k.groups = {};
    return absl::OkStatus();
  }
  std::vector<int32_t> at(n_expert, 0);
  for (int32_t g = 0; g < n_groups; ++g) at[group_expert[g]] = start[g];
  std::vector<int32_t> packed(size_t{2} * pairs + n_groups + (n_groups + 1) + start.back());
  std::memcpy(packed.data(), p.ids_host, sizeof(int32_t) * pairs);
  std::memcpy(packed.data() + pairs, p.weights_host, sizeof(float) * pairs);
  int32_t* const groups_at = packed.data() + 2 * pairs;
  std::copy(group_expert.begin(), group_expert.end(), groups_at);
  std::copy(start.begin(), start.end(), groups_at + n_groups);
  int32_t* const pairs_at = groups_at + 2 * n_groups + 1;
  for (int32_t q = 0; q < pairs; ++q) {
    const int32_t e = p.ids_host[q];
    if (e >= 0 && e < n_expert) pairs_at[at[e]++] = q;
  }
  HOBBIT_ASSIGN_OR_RETURN(void* device, staging_->Upload(packed.data(), sizeof(int32_t) * packed.size()));
  const auto* d = static_cast<const int32_t*>(device);
  k.ids = d;
  k.weights = reinterpret_cast<const float*>(d + pairs);
  k.groups = {.expert = d + 2 * pairs, .start = d + 2 * pairs + n_groups, .pairs = d + 2 * pairs + 2 * n_groups + 1,
              .n = n_groups};
  return absl::OkStatus();
}

bool CudaBackend::RoutedExpertsCanRun(const RoutedExpertsParams& p) { return RoutedKernelParams(p).has_value(); }

absl::Status CudaBackend::RoutedExperts(const RoutedExpertsParams& p) {
  std::optional<kernels::RoutedExpertsParams> k = RoutedKernelParams(p);
  if (!k) {
    return absl::InvalidArgumentError(absl::StrCat("cuda routed experts: cannot run ", p.n_tokens, " tokens x top-", p.k,
                                                   " over ", p.gate.size(), " experts"));
  }
  // Sized for the most decode tokens, so the buffer grows (and the stream syncs) once; a prefill
  // for a power of two of tokens.
  const int32_t sized_tokens = std::max<int32_t>(
      kRoutedExpertsMaxTokens, static_cast<int32_t>(std::bit_ceil(static_cast<uint32_t>(p.n_tokens))));
  const size_t need = kernels::RoutedExpertsScratchBytes(p.gate[0].cols, p.gate[0].rows, sized_tokens * p.k);
  HOBBIT_RETURN_IF_ERROR(Reserve(routed_scratch_, need, "routed experts scratch"));
  k->scratch = routed_scratch_->data();
  k->scratch_bytes = routed_scratch_->bytes();
  Wrote(p.out);
  if (p.n_tokens > kRoutedExpertsMaxTokens) {
    HOBBIT_RETURN_IF_ERROR(GroupChoiceByExpert(p, *k));
    if (k->groups.expert == nullptr) return absl::OkStatus();
  }
  // gate and up read x as RmsNormForProducts quantized it, where it did.
  k->x_q8 = NormQ8For(p.x, p.n_tokens, k->gate.cols);
  return kernels::RoutedExperts(*k, stream_);
}

}  // namespace hobbit::runtime
