// CudaBackend: the Backend on one CUDA device, with the kernels of kernels/cuda.
//
// Device memory comes from cudaMalloc (an out-of-memory error names the allocation, the bytes
// asked for and the bytes free). UploadWeight copies each weight to the device through pinned
// staging memory and keeps it for the backend's lifetime. Every op and copy is queued in order on
// one compute stream; CopyToHost and Router (whose results land in host memory) wait for it.
// Asynchronous copies (the expert loader's) run on a second stream, so they overlap the ops.
// Host arrays that ops take (ids_host, rows_host, scales_host) are uploaded inside the op.
// Products use a cuBLAS handle bound to the stream.
//
//   HOBBIT_ASSIGN_OR_RETURN(auto backend, CudaBackend::Create({}));
//   HOBBIT_ASSIGN_OR_RETURN(auto model, Model::Load(file, *backend, {}));
//
// This header includes no CUDA header: the stream and handle are opaque pointers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "kernels/cuda/routed_experts.h"
#include "runtime/backend/backend.h"
#include "runtime/backend/prefill_precision.h"

struct CUstream_st;
struct CUevent_st;
struct CUgraphExec_st;
struct cublasContext;

namespace hobbit::runtime {

class CudaStagingRing;

struct CudaBackendOptions {
  int32_t device = 0;
  size_t staging_segment_bytes = size_t{8} << 20;     // pinned staging ring, per segment (3)
  size_t matmul_workspace_bytes = size_t{64} << 20;   // dequantized weight tiles for prefill products
  // Decode products (1..8 tokens) on quantized weights quantize the activations to int8 blocks
  // of 32 and use integer dot products (kernels/cuda/quant_matvec.h), as llama.cpp's CUDA
  // backend does: Q8_0 at 82 % of HBM bandwidth instead of 33 %. false: float activations,
  // whose results match the CPU backend's to float rounding.
  bool int8_activations = true;
  // Products of more than 8 tokens (prefill), and any the matrix-vector kernel cannot take, go
  // through cuBLAS on decoded tiles (kernels/cuda/quant_matmul.h, runtime/backend/prefill_precision.h):
  // f16 decodes quantized weights to FP16 and runs the FP16 tensor cores (F32/BF16 weights then
  // use TF32); tf32 decodes to float32 and lets cuBLAS use TF32; f32 keeps exact float32 (the
  // CPU backend's results to rounding).
  PrefillPrecision prefill_precision = PrefillPrecision::kF32;
};

// Ops, copies and Allocate are called from one thread at a time (the engine thread). Buffers
// may be released from any thread once the ops that use them are complete.
class CudaBackend final : public Backend {
 public:
  // Number of CUDA devices usable here (0 without a driver or GPU).
  static int DeviceCount();
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(const CudaBackendOptions& options = {});
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  CUstream_st* stream() const { return stream_; }
  bool copies_want_pinned_host() const override { return true; }
  bool device_routing_pays() const override { return true; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes, std::string_view what) override;
  absl::StatusOr<WeightView> UploadWeight(const WeightView& host, std::string_view name) override;
  absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) override;
  absl::Status CopyToHost(void* dst, const void* src, size_t bytes) override;
  absl::Status Synchronize() override;
  absl::StatusOr<std::unique_ptr<HostBuffer>> AllocateHost(size_t bytes, std::string_view what) override;
  absl::StatusOr<std::unique_ptr<HostRegistration>> RegisterHost(const void* data, size_t bytes,
                                                                  std::string_view what) override;
  absl::StatusOr<CopyFence> CopyToDeviceAsync(void* dst, const void* src, size_t bytes) override;
  absl::StatusOr<bool> CopyDone(CopyFence fence) override;
  absl::Status WaitCopy(CopyFence fence) override;

  absl::Status GetRows(const WeightView& table, const int32_t* ids_host, int32_t n, float* out) override;
  absl::Status GetRowsDevice(const WeightView& table, const int32_t* ids_device, int32_t n, float* out) override;
  absl::Status MatMul(const WeightView& w, const float* x, int32_t n_tokens, float* y) override;
  absl::Status MatMulAdd(const WeightView& w, const float* x, int32_t n_tokens, float* tmp, float* y) override;
  absl::Status RmsNormForProducts(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                                  float* out) override;
  absl::Status MatMuls(std::span<const WeightView* const> ws, const float* x, int32_t n_tokens,
                       std::span<float* const> ys) override;
  absl::Status RmsNormRoute(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* out,
                            const WeightView& router, float* logits, const RouterParams& rp) override;
  absl::Status RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                       float* out) override;
  absl::Status Rope(const RopeParams& p) override;
  absl::Status WriteKv(const KvWriteParams& p) override;
  absl::Status Attention(const AttentionParams& p) override;
  absl::Status SiluMul(const float* gate, const float* up, int64_t n, float* out) override;
  absl::Status Add(float* x, const float* y, int64_t n) override;
  absl::Status Fill(float* x, float value, int64_t n) override;
  absl::Status AddRowBias(float* x, const float* bias, int64_t n_rows, int64_t dim) override;
  absl::Status Router(const RouterParams& p) override;
  absl::Status GatherRows(const float* src, const int32_t* rows_host, int32_t n, int64_t dim, float* dst) override;
  absl::Status GatherRowsDevice(const float* src, const int32_t* rows_device, int32_t n, int64_t dim,
                                float* dst) override;
  absl::Status ScatterAddScaled(const float* src, const int32_t* rows_host, const float* scales_host, int32_t n,
                                int64_t dim, float* dst) override;
  absl::Status ScaleRowsBySigmoid(float* x, const float* gate, int64_t n_rows, int64_t dim) override;
  bool RoutedExpertsCanRun(const RoutedExpertsParams& p) override;
  absl::Status RoutedExperts(const RoutedExpertsParams& p) override;

  bool can_record() const override { return true; }
  absl::Status BeginRecording() override;
  absl::StatusOr<int64_t> EndRecording() override;
  absl::Status Replay(int64_t id) override;
  void DropRecording(int64_t id) override;
  uint64_t buffers_epoch() const override { return buffers_epoch_; }

 private:
  explicit CudaBackend(const CudaBackendOptions& options);
  absl::Status Init();
  // Grows `buffer` to at least `bytes` (contents are not kept).
  absl::Status Reserve(std::unique_ptr<DeviceBuffer>& buffer, size_t bytes, std::string_view what);
  // The device table of one matrix's per-expert addresses (built once per matrix, keyed by its
  // first expert's address); null when an address does not fit the routed-experts kernel.
  const void* const* ExpertTable(std::span<const WeightView> views);
  // The kernel's parameters for RoutedExperts (no scratch yet), or nullopt where it cannot run.
  std::optional<kernels::RoutedExpertsParams> RoutedKernelParams(const RoutedExpertsParams& p);
  // A batch's host choice (ids_host, weights_host) grouped by expert and uploaded: k's ids,
  // weights and groups then point at it (valid for the RoutedExperts launch that follows). No id
  // in range: k.groups stays empty (nothing to run).
  absl::Status GroupChoiceByExpert(const RoutedExpertsParams& p, kernels::RoutedExpertsParams& k);
  // InvalidArgument naming `op` for a weight type/width the CUDA kernels cannot read.
  static absl::Status CheckWeight(const WeightView& w, std::string_view op);
  // Retires the copies that have completed (pending_ front to back); with `until`, blocks until
  // the copies up to that fence have.
  absl::Status RetireCopies(std::optional<CopyFence> until);
  // FailedPrecondition naming `what` while the stream is being recorded (a call that needs the
  // host cannot be part of a recording), and marks the recording spoilt.
  absl::Status NotWhileRecording(std::string_view what);
  // The int8 copy RmsNormForProducts made of x, if it still holds x as products of n_tokens rows of
  // cols read it; null otherwise.
  void* NormQ8For(const float* x, int64_t n_tokens, int64_t cols) const;
  // norm_q8_ holds at least `bytes`; the copy in it is gone if it had to grow.
  absl::Status ReserveNormQ8(size_t bytes);
  // Records that norm_q8_ now holds out (rows x dim) quantized.
  void NormQ8Made(const float* out, int64_t rows, int64_t dim) {
    norm_q8_x_ = out;
    norm_q8_rows_ = rows;
    norm_q8_dim_ = dim;
    norm_q8_made_in_ = norm_q8_generation_;
  }
  // An op writes p: an int8 copy of p is stale.
  void Wrote(const void* p) {
    if (p == norm_q8_x_) norm_q8_x_ = nullptr;
  }
  // MatMul; with x_quantized the matvec scratch already holds x as int8 (an earlier product of
  // this x). Sets *quantized to whether x is in the matvec scratch afterwards (not when the
  // product read an int8 copy of x instead: NormQ8For).
  absl::Status MatMulImpl(const WeightView& w, const float* x, int32_t n_tokens, float* y, bool x_quantized,
                          bool* quantized);

  CudaBackendOptions options_;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  // The copy queue: its own stream; each copy first waits for compute_tail_ (recorded on the
  // compute stream as the copy is queued) and is followed by an event that marks its fence.
  CUstream_st* copy_stream_ = nullptr;
  CUevent_st* compute_tail_ = nullptr;
  std::deque<std::pair<CopyFence, CUevent_st*>> pending_;  // queued copies, oldest first
  std::vector<CUevent_st*> spare_events_;
  CopyFence issued_ = 0;     // the last fence handed out
  CopyFence completed_ = 0;  // every fence <= this has completed
  std::unique_ptr<CudaStagingRing> staging_;
  std::vector<std::unique_ptr<DeviceBuffer>> weights_;  // uploaded weights, kept until destruction
  std::unique_ptr<DeviceBuffer> workspace_;             // QuantMatMul tiles
  std::unique_ptr<DeviceBuffer> matvec_scratch_;        // QuantMatVec's int8 activations
  // The int8 copy RmsNormForProducts or Attention made of their output norm_q8_x_ (rows x dim),
  // until an op writes there or norm_q8_ is reallocated (ReserveNormQ8 counts reallocations; other
  // buffers growing does not touch the copy).
  std::unique_ptr<DeviceBuffer> norm_q8_;
  // RmsNormRoute's scratch: a counter the kernel leaves at zero, and each block's share of the
  // logits (zeroed when allocated).
  std::unique_ptr<DeviceBuffer> route_scratch_;
  // Attention's split-decode records (each launch writes what it reads: never zeroed).
  std::unique_ptr<DeviceBuffer> attention_split_;
  const float* norm_q8_x_ = nullptr;
  int64_t norm_q8_rows_ = 0;
  int64_t norm_q8_dim_ = 0;
  uint64_t norm_q8_generation_ = 0;  // reallocations of norm_q8_
  uint64_t norm_q8_made_in_ = 0;     // the generation the copy was made in
  std::unique_ptr<DeviceBuffer> router_out_;            // router ids then weights, on the device
  std::unique_ptr<DeviceBuffer> routed_scratch_;        // RoutedExperts' activations
  absl::flat_hash_map<const void*, std::unique_ptr<DeviceBuffer>> expert_tables_;  // RoutedExperts
  std::vector<uint8_t> router_host_;                    // their host copy (pinned is not needed: small)
  // Recording (CUDA graph capture of stream_): whether it is on, the first call that spoilt it,
  // and the instantiated recordings by id.
  bool recording_ = false;
  std::string recording_spoilt_;
  int64_t next_recording_ = 1;
  uint64_t buffers_epoch_ = 0;
  absl::flat_hash_map<int64_t, CUgraphExec_st*> recordings_;
};

}  // namespace hobbit::runtime
