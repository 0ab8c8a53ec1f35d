#include "runtime/backend/cuda_backend.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

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
#include "kernels/cuda/quant_matvec.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope.h"
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


}  // namespace

absl::Status CudaBackend::CheckWeight(const WeightView& w, std::string_view op) {
  if (!kernels::GetRowsCanRun(static_cast<GgmlType>(w.type), w.cols)) {
    return absl::InvalidArgumentError(absl::StrCat("cuda ", std::string(op), ": weight type ",
                                                   kernels::GgmlTypeName(w.type), " with ", w.cols,
                                                   " columns is not supported"));
  }
  return absl::OkStatus();
}

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
  // TF32 for tf32, and for the F32/BF16 weights under f16 (prefill_precision.h).
  if (options_.prefill_precision != PrefillPrecision::kF32 &&
      cublas->set_math_mode(cublas_, kernels::kCublasTf32TensorOpMath) != 0) {
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
  if (n <= 0) return absl::OkStatus();
  HOBBIT_ASSIGN_OR_RETURN(void* ids, staging_->Upload(ids_host, sizeof(int32_t) * n));
  return GetRowsDevice(table, static_cast<const int32_t*>(ids), n, out);
}

absl::Status CudaBackend::GetRowsDevice(const WeightView& table, const int32_t* ids_device, int32_t n, float* out) {
  HOBBIT_RETURN_IF_ERROR(CheckWeight(table, "get_rows"));
  Wrote(out);
  if (n <= 0) return absl::OkStatus();
  kernels::GetRowsParams p{.type = static_cast<GgmlType>(table.type),
                           .w = table.data,
                           .rows = table.rows,
                           .cols = table.cols,
                           .row_bytes = table.row_bytes,
                           .ids = ids_device,
                           .first_row = 0,
                           .n = n,
                           .out = out};
  return kernels::GetRowsF32(p, stream_);
}

absl::Status CudaBackend::Rope(const RopeParams& p) {
  HOBBIT_RETURN_IF_ERROR(CheckRopeExtras(p));
  Wrote(p.x);
  Wrote(p.x2);
  kernels::CudaRopeParams k{.x = p.x, .positions = p.positions, .n_tokens = p.n_tokens, .n_heads = p.n_heads,
                            .head_dim = p.head_dim, .n_rot = p.n_rot, .freq_base = p.freq_base,
                            .freq_scale = p.freq_scale, .half_split = p.style == RopeStyle::kHalfSplit,
                            .x2 = p.x2, .n_heads2 = p.n_heads2, .norm = p.head_norm, .norm2 = p.head_norm2,
                            .norm_eps = p.head_norm_eps};
  if (p.kv_write != nullptr) {
    k.k_cache = p.kv_write->k_cache;
    k.v_cache = p.kv_write->v_cache;
    k.kv_type = p.kv_write->kv_type;
    k.v = p.kv_write->v;
    k.slots = p.kv_write->slots;
    k.v_row = p.kv_write->v_row;
  }
  return kernels::RopeF32(k, stream_);
}

absl::Status CudaBackend::WriteKv(const KvWriteParams& p) {
  return kernels::KvWriteF32({.k = p.k, .v = p.v, .k_cache = p.k_cache, .v_cache = p.v_cache,
                              .kv_type = p.kv_type, .slots = p.slots, .n_tokens = p.n_tokens, .k_row = p.k_row,
                              .v_row = p.v_row},
                             stream_);
}

absl::Status CudaBackend::Attention(const AttentionParams& p) {
  Wrote(p.out);
  norm_q8_x_ = nullptr;
  kernels::CudaPagedAttentionParams k{.q = p.q, .out = p.out, .n_tokens = p.n_tokens, .n_head = p.n_head,
                                      .n_head_kv = p.n_head_kv, .head_dim_k = p.head_dim_k,
                                      .head_dim_v = p.head_dim_v, .scale = p.scale, .k_cache = p.k_cache,
                                      .v_cache = p.v_cache, .kv_type = p.kv_type, .block_size = p.block_size,
                                      .token_seq = p.token_seq,
                                      .token_pos = p.token_pos, .block_tables = p.block_tables,
                                      .max_blocks = p.max_blocks};
  // Decode over long contexts splits each one over several blocks (flash-decoding): their records
  // need a buffer, one size for the model (it covers every batch and context).
  if (const size_t split = kernels::PagedAttentionSplitScratchBytes(k); split > 0) {
    HOBBIT_RETURN_IF_ERROR(Reserve(attention_split_, split, "attention split-decode records"));
    k.split_scratch = attention_split_->data();
  }
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
  if (n <= 0) return absl::OkStatus();
  HOBBIT_ASSIGN_OR_RETURN(void* rows, staging_->Upload(rows_host, sizeof(int32_t) * n));
  return GatherRowsDevice(src, static_cast<const int32_t*>(rows), n, dim, dst);
}

absl::Status CudaBackend::GatherRowsDevice(const float* src, const int32_t* rows_device, int32_t n, int64_t dim,
                                           float* dst) {
  Wrote(dst);
  return kernels::GatherRowsF32(src, rows_device, n, dim, dst, stream_);
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
