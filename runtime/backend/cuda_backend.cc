#include "runtime/backend/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>

#include "absl/strings/str_cat.h"
#include "kernels/base/ggml_type.h"
#include "kernels/base/status_macros.h"
#include "kernels/cuda/add.h"
#include "kernels/cuda/cublas_library.h"
#include "kernels/cuda/fill.h"
#include "kernels/cuda/gather_rows.h"
#include "kernels/cuda/get_rows.h"
#include "kernels/cuda/internal/launch_status.h"
#include "kernels/cuda/kv_write.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/quant_matmul.h"
#include "kernels/cuda/quant_matvec.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/routed_experts.h"
#include "kernels/cuda/router_topk.h"
#include "kernels/cuda/scale_rows_by_sigmoid.h"
#include "kernels/cuda/silu_mul.h"
#include "runtime/backend/cuda_staging_ring.h"

namespace hobbit::runtime {
namespace {

using kernels::GgmlType;
using kernels::cuda_internal::CudaStatus;

class CudaBuffer final : public DeviceBuffer {
 public:
  CudaBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  ~CudaBuffer() override { cudaFree(data_); }
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

class PinnedHostBuffer final : public HostBuffer {
 public:
  PinnedHostBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  ~PinnedHostBuffer() override { cudaFreeHost(data_); }
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

class CudaHostRegistration final : public HostRegistration {
 public:
  explicit CudaHostRegistration(void* base) : base_(base) {}
  ~CudaHostRegistration() override { cudaHostUnregister(base_); }

 private:
  void* base_;
};

absl::Status CheckWeight(const WeightView& w, std::string_view op) {
  if (!kernels::GetRowsCanRun(static_cast<GgmlType>(w.type), w.cols)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda ", std::string(op), ": weight type ",
                                                   kernels::GgmlTypeName(w.type), " with ", w.cols,
                                                   " columns is not supported"));
  }
  return absl::OkStatus();
}

}  // namespace

int CudaBackend::DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

CudaBackend::CudaBackend(const CudaBackendOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(const CudaBackendOptions& options) {
  std::unique_ptr<CudaBackend> backend(new CudaBackend(options));
  HOBBIT_RETURN_IF_ERROR(backend->Init());
  return backend;
}

absl::Status CudaBackend::Init() {
  const int count = DeviceCount();
  if (options_.device < 0 || options_.device >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda backend: device ", options_.device, " requested, ", count, " CUDA devices present"));
  }
  HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(options_.device), "cuda backend: cudaSetDevice"));
  HOBBIT_RETURN_IF_ERROR(
      CudaStatus(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cuda backend: stream creation"));
  HOBBIT_ASSIGN_OR_RETURN(const kernels::CublasLibrary* cublas, kernels::GetCublasLibrary());
  if (cublas->create(&cublas_) != 0) {
    return absl::InternalError("cuda backend: cublasCreate failed");
  }
  if (cublas->set_stream(cublas_, stream_) != 0) {
    return absl::InternalError("cuda backend: cublasSetStream failed");
  }
  if (options_.tf32_prefill && cublas->set_math_mode(cublas_, kernels::kCublasTf32TensorOpMath) != 0) {
    return absl::InternalError("cuda backend: cublasSetMathMode (TF32) failed");
  }
  HOBBIT_ASSIGN_OR_RETURN(staging_, CudaStagingRing::Create(options_.staging_segment_bytes, stream_));
  HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking),
                                    "cuda backend: copy stream creation"));
  HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaEventCreateWithFlags(&compute_tail_, cudaEventDisableTiming),
                                    "cuda backend: event creation"));
  return absl::OkStatus();
}

CudaBackend::~CudaBackend() {
  if (recording_) {
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
  }
  if (stream_) cudaStreamSynchronize(stream_);
  for (auto& [id, exec] : recordings_) cudaGraphExecDestroy(exec);
  if (copy_stream_) cudaStreamSynchronize(copy_stream_);
  for (auto& [fence, event] : pending_) cudaEventDestroy(event);
  for (CUevent_st* event : spare_events_) cudaEventDestroy(event);
  if (compute_tail_) cudaEventDestroy(compute_tail_);
  if (copy_stream_) cudaStreamDestroy(copy_stream_);
  staging_.reset();
  weights_.clear();
  workspace_.reset();
  router_out_.reset();
  if (cublas_) {
    // cublas_ exists only if the library loaded.
    if (auto lib = kernels::GetCublasLibrary(); lib.ok()) (*lib)->destroy(cublas_);
  }
  if (stream_) cudaStreamDestroy(stream_);
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> CudaBackend::Allocate(size_t bytes, std::string_view what) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording(absl::StrCat("allocating ", std::string(what))));
  void* data = nullptr;
  const cudaError_t err = cudaMalloc(&data, std::max<size_t>(bytes, 1));
  if (err != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky; clear it
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return absl::ResourceExhaustedError(absl::StrCat("out of device memory allocating ", std::string(what), ": ",
                                                     bytes, " bytes wanted, ", free_bytes, " of ", total_bytes,
                                                     " bytes free on device ", options_.device, " (",
                                                     cudaGetErrorString(err), ")"));
  }
  return std::make_unique<CudaBuffer>(data, bytes);
}

absl::Status CudaBackend::Reserve(std::unique_ptr<DeviceBuffer>& buffer, size_t bytes, std::string_view what) {
  if (buffer && buffer->bytes() >= bytes) return absl::OkStatus();
  HOBBIT_RETURN_IF_ERROR(Synchronize());  // the old buffer may still be read by queued ops
  buffer.reset();
  HOBBIT_ASSIGN_OR_RETURN(buffer, Allocate(bytes, what));
  ++buffers_epoch_;
  return absl::OkStatus();
}

absl::StatusOr<WeightView> CudaBackend::UploadWeight(const WeightView& host, std::string_view name) {
  auto status = CheckWeight(host, "upload");
  if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat("tensor ", std::string(name), ": ", status.message()));
  HOBBIT_ASSIGN_OR_RETURN(auto buffer, Allocate(static_cast<size_t>(host.bytes()), absl::StrCat("weight ", std::string(name))));
  HOBBIT_RETURN_IF_ERROR(staging_->CopyToDevice(buffer->data(), host.data, static_cast<size_t>(host.bytes())));
  WeightView device = host;
  device.data = buffer->data();
  weights_.push_back(std::move(buffer));
  return device;
}

absl::Status CudaBackend::CopyToDevice(void* dst, const void* src, size_t bytes) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("a copy to the device"));
  Wrote(dst);
  return staging_->CopyToDevice(dst, src, bytes);
}

absl::Status CudaBackend::CopyToHost(void* dst, const void* src, size_t bytes) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("a copy to the host"));
  HOBBIT_RETURN_IF_ERROR(
      CudaStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "cuda copy to host"));
  return Synchronize();
}

absl::Status CudaBackend::Synchronize() {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("a synchronization"));
  return CudaStatus(cudaStreamSynchronize(stream_), "cuda backend: stream synchronize");
}

absl::StatusOr<std::unique_ptr<HostBuffer>> CudaBackend::AllocateHost(size_t bytes, std::string_view what) {
  void* data = nullptr;
  const cudaError_t err = cudaHostAlloc(&data, std::max<size_t>(bytes, 1), cudaHostAllocPortable);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return absl::ResourceExhaustedError(absl::StrCat("out of pinned host memory allocating ", std::string(what), ": ",
                                                     bytes, " bytes (", cudaGetErrorString(err), ")"));
  }
  return std::make_unique<PinnedHostBuffer>(data, bytes);
}

absl::StatusOr<std::unique_ptr<HostRegistration>> CudaBackend::RegisterHost(const void* data, size_t bytes,
                                                                             std::string_view what) {
  // Whole pages: the mapped file's tensors start anywhere in a page.
  const uintptr_t page = 4096;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes + page - 1) & ~(page - 1);
  void* base = reinterpret_cast<void*>(begin);
  // Read-only: the model file is mapped without write access.
  cudaError_t err = cudaHostRegister(base, end - begin, cudaHostRegisterPortable | cudaHostRegisterReadOnly);
  if (err != cudaSuccess) {
    cudaGetLastError();
    err = cudaHostRegister(base, end - begin, cudaHostRegisterPortable);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    return absl::FailedPreconditionError(absl::StrCat("cannot page-lock ", std::string(what), " (", end - begin,
                                                      " bytes): ", cudaGetErrorString(err)));
  }
  return std::make_unique<CudaHostRegistration>(base);
}

absl::StatusOr<CopyFence> CudaBackend::CopyToDeviceAsync(void* dst, const void* src, size_t bytes) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("an expert copy"));
  Wrote(dst);
  // The copy may overwrite memory that ops queued so far read (an evicted expert's slot).
  HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaEventRecord(compute_tail_, stream_), "cuda async copy: event record"));
  HOBBIT_RETURN_IF_ERROR(
      CudaStatus(cudaStreamWaitEvent(copy_stream_, compute_tail_, 0), "cuda async copy: stream wait"));
  HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, copy_stream_),
                                    "cuda async copy to device"));
  CUevent_st* event = nullptr;
  if (!spare_events_.empty()) {
    event = spare_events_.back();
    spare_events_.pop_back();
  } else {
    HOBBIT_RETURN_IF_ERROR(
        CudaStatus(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cuda async copy: event creation"));
  }
  const cudaError_t err = cudaEventRecord(event, copy_stream_);
  if (err != cudaSuccess) {
    spare_events_.push_back(event);
    return CudaStatus(err, "cuda async copy: event record");
  }
  pending_.emplace_back(++issued_, event);
  return issued_;
}

absl::Status CudaBackend::RetireCopies(std::optional<CopyFence> until) {
  while (!pending_.empty()) {
    auto [fence, event] = pending_.front();
    cudaError_t err = cudaEventQuery(event);
    if (err == cudaErrorNotReady && until && fence <= *until) err = cudaEventSynchronize(event);
    if (err == cudaErrorNotReady) {
      cudaGetLastError();
      break;
    }
    HOBBIT_RETURN_IF_ERROR(CudaStatus(err, "cuda async copy"));
    completed_ = fence;
    spare_events_.push_back(event);
    pending_.pop_front();
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> CudaBackend::CopyDone(CopyFence fence) {
  if (fence > issued_) return absl::InvalidArgumentError(absl::StrCat("copy fence ", fence, " was never issued"));
  if (fence <= completed_) return true;
  HOBBIT_RETURN_IF_ERROR(RetireCopies(std::nullopt));
  return fence <= completed_;
}

absl::Status CudaBackend::WaitCopy(CopyFence fence) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("waiting for an expert copy"));
  if (fence > issued_) return absl::InvalidArgumentError(absl::StrCat("copy fence ", fence, " was never issued"));
  if (fence <= completed_) return absl::OkStatus();
  return RetireCopies(fence);
}

absl::Status CudaBackend::GetRows(const WeightView& table, const int32_t* ids_host, int32_t n, float* out) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("get_rows (host ids)"));
  HOBBIT_RETURN_IF_ERROR(CheckWeight(table, "get_rows"));
  for (int32_t i = 0; i < n; ++i) {
    if (ids_host[i] < 0 || ids_host[i] >= table.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("cuda get_rows: id ", ids_host[i], " out of range [0, ", table.rows, ")"));
    }
  }
  Wrote(out);
  if (n <= 0) return absl::OkStatus();
  HOBBIT_ASSIGN_OR_RETURN(void* ids, staging_->Upload(ids_host, sizeof(int32_t) * n));
  kernels::GetRowsParams p{.type = static_cast<GgmlType>(table.type), .w = table.data, .rows = table.rows,
                           .cols = table.cols, .row_bytes = table.row_bytes, .ids = static_cast<const int32_t*>(ids),
                           .first_row = 0, .n = n, .out = out};
  return kernels::GetRowsF32(p, stream_);
}

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
  kernels::CudaQuantMatMulParams p{.type = static_cast<GgmlType>(w.type), .w = w.data, .rows = w.rows,
                                   .cols = w.cols, .row_bytes = w.row_bytes, .x = x, .n_tokens = n_tokens, .y = y};
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
  const size_t need = std::max(kernels::QuantMatMulMinWorkspaceBytes(p), options_.matmul_workspace_bytes);
  HOBBIT_RETURN_IF_ERROR(Reserve(workspace_, need, "matmul workspace"));
  return kernels::CudaQuantMatMul(p, workspace_->as<float>(), workspace_->bytes(), cublas_, stream_);
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

absl::Status CudaBackend::Rope(const RopeParams& p) {
  HOBBIT_RETURN_IF_ERROR(CheckRopeExtras(p));
  Wrote(p.x);
  Wrote(p.x2);
  kernels::CudaRopeParams k{.x = p.x, .positions = p.positions, .n_tokens = p.n_tokens, .n_heads = p.n_heads,
                            .head_dim = p.head_dim, .n_rot = p.n_rot, .freq_base = p.freq_base,
                            .freq_scale = p.freq_scale, .half_split = p.style == RopeStyle::kHalfSplit,
                            .x2 = p.x2, .n_heads2 = p.n_heads2};
  if (p.kv_write != nullptr) {
    k.k_cache = p.kv_write->k_cache;
    k.v_cache = p.kv_write->v_cache;
    k.v = p.kv_write->v;
    k.slots = p.kv_write->slots;
    k.v_row = p.kv_write->v_row;
  }
  return kernels::RopeF32(k, stream_);
}

absl::Status CudaBackend::WriteKv(const KvWriteParams& p) {
  return kernels::KvWriteF32({.k = p.k, .v = p.v, .k_cache = p.k_cache, .v_cache = p.v_cache, .slots = p.slots,
                              .n_tokens = p.n_tokens, .k_row = p.k_row, .v_row = p.v_row},
                             stream_);
}

absl::Status CudaBackend::Attention(const AttentionParams& p) {
  Wrote(p.out);
  norm_q8_x_ = nullptr;
  kernels::CudaPagedAttentionParams k{.q = p.q, .out = p.out, .n_tokens = p.n_tokens, .n_head = p.n_head,
                                      .n_head_kv = p.n_head_kv, .head_dim_k = p.head_dim_k,
                                      .head_dim_v = p.head_dim_v, .scale = p.scale, .k_cache = p.k_cache,
                                      .v_cache = p.v_cache, .block_size = p.block_size, .token_seq = p.token_seq,
                                      .token_pos = p.token_pos, .block_tables = p.block_tables,
                                      .max_blocks = p.max_blocks};
  // Decode: the kernel also quantizes its output for the output product that follows (which
  // then skips its own quantization: NormQ8For).
  const int64_t width = int64_t{p.n_head} * p.head_dim_v;
  if (options_.int8_activations && p.n_tokens >= 1 && p.n_tokens <= kernels::kQuantMatVecMaxTokens &&
      p.head_dim_v % 32 == 0) {
    HOBBIT_RETURN_IF_ERROR(ReserveNormQ8(kernels::QuantMatVecScratchBytes(width, kernels::kQuantMatVecMaxTokens)));
    k.q8 = norm_q8_->data();
    HOBBIT_RETURN_IF_ERROR(kernels::PagedAttentionF32(k, stream_));
    NormQ8Made(p.out, p.n_tokens, width);
    return absl::OkStatus();
  }
  return kernels::PagedAttentionF32(k, stream_);
}

absl::Status CudaBackend::SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  Wrote(out);
  return kernels::SiluMulF32(gate, up, n, out, stream_);
}

absl::Status CudaBackend::Add(float* x, const float* y, int64_t n) {
  Wrote(x);
  return kernels::AddF32(x, y, n, stream_);
}

absl::Status CudaBackend::Fill(float* x, float value, int64_t n) {
  Wrote(x);
  return kernels::FillF32(x, value, n, stream_);
}

absl::Status CudaBackend::AddRowBias(float* x, const float* bias, int64_t n_rows, int64_t dim) {
  Wrote(x);
  return kernels::AddRowBiasF32(x, bias, n_rows, dim, stream_);
}

absl::Status CudaBackend::Router(const RouterParams& p) {
  if (p.k <= 0 || p.k > p.n_expert) {
    return absl::InvalidArgumentError(absl::StrCat("router: k = ", p.k, " with ", p.n_expert, " experts"));
  }
  if (p.n_tokens <= 0) return absl::OkStatus();
  const size_t count = static_cast<size_t>(p.n_tokens) * p.k;
  const size_t bytes = count * (sizeof(int32_t) + sizeof(float));
  if (p.ids_device != nullptr && p.weights_device != nullptr) {  // the choice stays on the device
    return kernels::RouterTopKF32({.logits = p.logits, .n_tokens = p.n_tokens, .n_expert = p.n_expert, .k = p.k,
                                   .renormalize = p.renormalize, .ids = p.ids_device, .weights = p.weights_device},
                                  stream_);
  }
  HOBBIT_RETURN_IF_ERROR(Reserve(router_out_, bytes, "router top-k output"));
  auto* ids = router_out_->as<int32_t>();
  auto* weights = reinterpret_cast<float*>(ids + count);
  HOBBIT_RETURN_IF_ERROR(kernels::RouterTopKF32({.logits = p.logits, .n_tokens = p.n_tokens, .n_expert = p.n_expert,
                                                 .k = p.k, .renormalize = p.renormalize, .ids = ids,
                                                 .weights = weights},
                                                stream_));
  router_host_.resize(bytes);
  HOBBIT_RETURN_IF_ERROR(CopyToHost(router_host_.data(), ids, bytes));
  std::memcpy(p.ids_host, router_host_.data(), count * sizeof(int32_t));
  std::memcpy(p.weights_host, router_host_.data() + count * sizeof(int32_t), count * sizeof(float));
  return absl::OkStatus();
}

absl::Status CudaBackend::GatherRows(const float* src, const int32_t* rows_host, int32_t n, int64_t dim, float* dst) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("gather_rows (host rows)"));
  Wrote(dst);
  if (n <= 0) return absl::OkStatus();
  HOBBIT_ASSIGN_OR_RETURN(void* rows, staging_->Upload(rows_host, sizeof(int32_t) * n));
  return kernels::GatherRowsF32(src, static_cast<const int32_t*>(rows), n, dim, dst, stream_);
}

absl::Status CudaBackend::ScatterAddScaled(const float* src, const int32_t* rows_host, const float* scales_host,
                                           int32_t n, int64_t dim, float* dst) {
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("scatter_add (host rows)"));
  Wrote(dst);
  if (n <= 0) return absl::OkStatus();
  HOBBIT_ASSIGN_OR_RETURN(void* rows, staging_->Upload(rows_host, sizeof(int32_t) * n));
  HOBBIT_ASSIGN_OR_RETURN(void* scales, staging_->Upload(scales_host, sizeof(float) * n));
  return kernels::ScatterAddScaledF32(src, static_cast<const int32_t*>(rows), static_cast<const float*>(scales), n,
                                      dim, dst, stream_);
}

absl::Status CudaBackend::ScaleRowsBySigmoid(float* x, const float* gate, int64_t n_rows, int64_t dim) {
  Wrote(x);
  return kernels::ScaleRowsBySigmoidF32(x, gate, n_rows, dim, stream_);
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
  if (p.n_tokens < 1 || p.n_tokens > kRoutedExpertsMaxTokens) return std::nullopt;
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
  if (!kernels::RoutedExpertsCanRun(k)) return std::nullopt;
  return k;
}

bool CudaBackend::RoutedExpertsCanRun(const RoutedExpertsParams& p) { return RoutedKernelParams(p).has_value(); }

absl::Status CudaBackend::RoutedExperts(const RoutedExpertsParams& p) {
  std::optional<kernels::RoutedExpertsParams> k = RoutedKernelParams(p);
  if (!k) {
    return absl::InvalidArgumentError(absl::StrCat("cuda routed experts: cannot run ", p.n_tokens, " tokens x top-", p.k,
                                                   " over ", p.gate.size(), " experts"));
  }
  // Sized for the most tokens, so the buffer grows (and the stream syncs) once.
  const size_t need = kernels::RoutedExpertsScratchBytes(p.gate[0].cols, p.gate[0].rows,
                                                         kRoutedExpertsMaxTokens * p.k);
  HOBBIT_RETURN_IF_ERROR(Reserve(routed_scratch_, need, "routed experts scratch"));
  k->scratch = routed_scratch_->data();
  k->scratch_bytes = routed_scratch_->bytes();
  Wrote(p.out);
  // gate and up read x as RmsNormForProducts quantized it, where it did.
  k->x_q8 = NormQ8For(p.x, p.n_tokens, k->gate.cols);
  return kernels::RoutedExperts(*k, stream_);
}

}  // namespace hobbit::runtime

namespace hobbit::runtime {

absl::Status CudaBackend::NotWhileRecording(std::string_view what) {
  if (!recording_) return absl::OkStatus();
  if (recording_spoilt_.empty()) recording_spoilt_ = std::string(what);
  return absl::FailedPreconditionError(
      absl::StrCat("cuda backend: ", std::string(what), " cannot be part of a recording"));
}

absl::Status CudaBackend::BeginRecording() {
  if (recording_) return absl::FailedPreconditionError("cuda backend: already recording");
  norm_q8_x_ = nullptr;  // an int8 copy is used only by the ops recorded after the op that made it
  // Queued expert copies wait on events of the compute stream; none may join the capture.
  HOBBIT_RETURN_IF_ERROR(RetireCopies(issued_));
  // Thread-local: a call on this thread that cannot be captured fails (and spoils the capture)
  // instead of running; other threads are not affected.
  HOBBIT_RETURN_IF_ERROR(CudaStatus(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
                                    "cuda backend: begin recording"));
  recording_ = true;
  recording_spoilt_.clear();
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CudaBackend::EndRecording() {
  if (!recording_) return absl::FailedPreconditionError("cuda backend: not recording");
  recording_ = false;
  norm_q8_x_ = nullptr;
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
  if (end != cudaSuccess || !recording_spoilt_.empty()) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();  // a spoilt capture's error is not sticky
    return absl::FailedPreconditionError(
        absl::StrCat("cuda backend: recording failed: ",
                     recording_spoilt_.empty() ? std::string(cudaGetErrorString(end))
                                               : absl::StrCat(recording_spoilt_, " cannot be recorded")));
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (made != cudaSuccess) {
    cudaGetLastError();
    return absl::InternalError(absl::StrCat("cuda backend: instantiating a recording: ", cudaGetErrorString(made)));
  }
  const int64_t id = next_recording_++;
  recordings_[id] = exec;
  return id;
}

absl::Status CudaBackend::Replay(int64_t id) {
  auto it = recordings_.find(id);
  if (it == recordings_.end()) return absl::NotFoundError(absl::StrCat("cuda backend: no recording ", id));
  HOBBIT_RETURN_IF_ERROR(NotWhileRecording("a replay"));
  norm_q8_x_ = nullptr;  // the host did not see the replayed ops
  return CudaStatus(cudaGraphLaunch(it->second, stream_), "cuda backend: replay");
}

void CudaBackend::DropRecording(int64_t id) {
  auto it = recordings_.find(id);
  if (it == recordings_.end()) return;
  // A launched graph may be destroyed: the launch completes first (CUDA keeps it alive).
  cudaGraphExecDestroy(it->second);
  recordings_.erase(it);
}

}  // namespace hobbit::runtime
