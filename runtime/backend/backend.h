// Backend: the device interface that the model graph is written against, once.
//
// A backend owns device memory and runs ops on it. The CPU backend's "device memory" is host
// memory from a budgeted arena and its ops are the kernels in kernels/cpu and kernels/quant; the
// CUDA backend implements the same calls with kernels/cuda. Nothing above this interface
// includes a CUDA header.
//
// Conventions for every op: activations are float32, row-major, contiguous; pointers are device
// pointers of this backend (from Allocate or WeightView::data); ops are enqueued in order on the
// backend's one compute stream and complete before any later op or CopyToHost reads their output.
// Ops return InvalidArgument for shapes they cannot run (naming the op and the shape).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/base/kv_cache_type.h"

namespace hobbit::runtime {

// A matrix of `rows` rows of `cols` elements of a GGUF tensor type, in backend memory:
// y = W x reads row r at data + r * row_bytes. A 3-D expert tensor is `n_expert` such matrices
// at data + e * rows * row_bytes (ExpertSlab below).
struct WeightView {
  uint32_t type = 0;         // ggml type id (kernels/base/ggml_type.h)
  int64_t rows = 0;          // output features (ggml ne[1])
  int64_t cols = 0;          // input features, the row length (ggml ne[0])
  int64_t row_bytes = 0;
  const void* data = nullptr;

  int64_t bytes() const { return rows * row_bytes; }
};

// Memory of this backend. Freed when destroyed.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual size_t bytes() const = 0;

  template <typename T>
  T* as() { return static_cast<T*>(data()); }
};

// Host memory that the backend copies from at the link's full speed: page-locked (pinned) on
// CUDA, plain aligned memory on the CPU backend. Freed when destroyed.
class HostBuffer {
 public:
  virtual ~HostBuffer() = default;
  virtual void* data() = 0;
  virtual size_t bytes() const = 0;

  template <typename T>
  T* as() { return static_cast<T*>(data()); }
};

// Existing host memory made fast to copy from (page-locked) until destroyed.
class HostRegistration {
 public:
  virtual ~HostRegistration() = default;
};

// A point in the backend's queue of asynchronous host->device copies (CopyToDeviceAsync). Copies
// complete in the order they were queued, so a later fence being done implies every earlier one.
using CopyFence = uint64_t;

enum class RopeStyle {
  kAdjacentPairs,  // (x[2i], x[2i+1]) rotate together: GGUF `llama` (converter permutes Q/K)
  kHalfSplit,      // (x[i], x[i + n_rot/2]): NEOX style, qwen2moe/qwen3moe/olmoe
};

// Paged causal attention for a batch of tokens from several sequences.
struct AttentionParams {
  const float* q = nullptr;  // [n_tokens, n_head, head_dim_k], RoPE applied
  float* out = nullptr;      // [n_tokens, n_head, head_dim_v]
  int32_t n_tokens = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;  // n_head % n_head_kv == 0 (grouped-query attention)
  int32_t head_dim_k = 0;
  int32_t head_dim_v = 0;
  float scale = 1.0f;
  // This layer's cache, [num_blocks, block_size, n_head_kv, head_dim] of kv_type.
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  kernels::KvCacheType kv_type = kernels::KvCacheType::kF32;
  int32_t block_size = 0;
  // Device arrays: token t belongs to sequence token_seq[t] and sits at position token_pos[t];
  // it attends to positions 0..token_pos[t] of its sequence, whose blocks are
  // block_tables[seq * max_blocks ...].
  const int32_t* token_seq = nullptr;
  const int32_t* token_pos = nullptr;
  const int32_t* block_tables = nullptr;
  int32_t max_blocks = 0;
};

// Writes K and V rows of a step into the paged cache at the given slots
// (slot = block * block_size + offset within the block), as kv_type (half: rounded to nearest even).
struct KvWriteParams {
  const float* k = nullptr;  // [n_tokens, n_head_kv * head_dim_k]
  const float* v = nullptr;  // [n_tokens, n_head_kv * head_dim_v]
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  kernels::KvCacheType kv_type = kernels::KvCacheType::kF32;
  const int32_t* slots = nullptr;  // [n_tokens], device
  int32_t n_tokens = 0;
  int32_t k_row = 0;  // n_head_kv * head_dim_k
  int32_t v_row = 0;  // n_head_kv * head_dim_v
};

struct RopeParams {
  float* x = nullptr;  // [n_tokens, n_heads, head_dim], rotated in place
  const int32_t* positions = nullptr;  // [n_tokens], device
  int32_t n_tokens = 0;
  int32_t n_heads = 0;
  int32_t head_dim = 0;
  int32_t n_rot = 0;  // leading dims of each head that rotate (<= head_dim, even)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // linear position scaling (1 = none)
  RopeStyle style = RopeStyle::kAdjacentPairs;
  // Optional: a second tensor at the same positions ([n_tokens, n_heads2, head_dim]: K beside Q),
  // rotated by the same call.
  float* x2 = nullptr;
  int32_t n_heads2 = 0;
  // Optional: then WriteKv(*kv_write) in the same call (kv_write->k must be x2): the CUDA backend
  // rotates Q and K and fills the cache in one kernel instead of three.
  const KvWriteParams* kv_write = nullptr;
  // Optional: every head of x (and x2) RMS-normalized over its head_dim first, scaled by
  // head_norm (head_norm2) — qwen3's per-head q and k norms, as RmsNorm over rows of head_dim
  // would give them (the CUDA backend does it in the rotation's kernel).
  const float* head_norm = nullptr;   // [head_dim]
  const float* head_norm2 = nullptr;  // [head_dim]
  float head_norm_eps = 1e-6f;
};

// RopeParams' optional parts agree with each other (both backends check them alike).
inline absl::Status CheckRopeExtras(const RopeParams& p) {
  if ((p.x2 != nullptr) != (p.n_heads2 > 0)) {
    return absl::InvalidArgumentError("rope: x2 and n_heads2 > 0 go together");
  }
  if (p.kv_write != nullptr &&
      (p.x2 == nullptr || p.kv_write->k != p.x2 || p.kv_write->n_tokens != p.n_tokens ||
       int64_t{p.kv_write->k_row} != int64_t{p.n_heads2} * p.head_dim)) {
    return absl::InvalidArgumentError("rope: kv_write must write x2 (n_tokens rows of n_heads2 x head_dim)");
  }
  if (p.head_norm2 != nullptr && p.x2 == nullptr) return absl::InvalidArgumentError("rope: head_norm2 needs x2");
  return absl::OkStatus();
}

// Router: softmax over n_expert logits per token, top-k, optional renormalization of the k.
// Outputs land in HOST memory: the expert FFN decides on the host what to run.
struct RouterParams {
  const float* logits = nullptr;  // [n_tokens, n_expert], device
  int32_t n_tokens = 0;
  int32_t n_expert = 0;
  int32_t k = 0;
  bool renormalize = true;
  int32_t* ids_host = nullptr;      // [n_tokens, k], sorted by weight descending
  float* weights_host = nullptr;    // [n_tokens, k]
  // When both are set, the outputs land here instead, in backend memory, and the host outputs
  // are not written: the experts then run with RoutedExperts, without a round trip to the host.
  int32_t* ids_device = nullptr;
  float* weights_device = nullptr;
};

// The most tokens RoutedExperts takes (decode; larger batches group tokens by expert instead).
inline constexpr int32_t kRoutedExpertsMaxTokens = 8;

// One MoE layer's routed experts run on the router's choice where it lies, in backend memory:
// out[t, :] += sum_j weights[t, j] * down_e(silu(gate_e x[t, :]) * up_e x[t, :]), e = ids[t, j].
struct RoutedExpertsParams {
  std::span<const WeightView> gate, up, down;  // [n_expert], backend memory (UploadWeight views)
  const float* x = nullptr;                   // [n_tokens, n_embd]
  const int32_t* ids = nullptr;               // backend memory [n_tokens, k]
  const float* weights = nullptr;             // backend memory [n_tokens, k]
  int32_t n_tokens = 0;
  int32_t k = 0;
  float* out = nullptr;                       // [n_tokens, n_embd]
  // Batches past kRoutedExpertsMaxTokens (prefill): the choice on the host instead ([n_tokens,
  // k]; ids and weights are then unused). A backend that groups the pairs by expert itself runs
  // all experts in a few launches; RoutedExpertsCanRun says whether this one does.
  const int32_t* ids_host = nullptr;
  const float* weights_host = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual std::string_view name() const = 0;

  // --- memory ---
  // `what` names the allocation in the out-of-memory error.
  virtual absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes, std::string_view what) = 0;
  // Makes a weight usable by ops. The CPU backend uses the host bytes in place (they must
  // outlive the backend's use, e.g. the mmapped GGUF); a GPU backend uploads them.
  virtual absl::StatusOr<WeightView> UploadWeight(const WeightView& host, std::string_view name) = 0;
  virtual absl::Status CopyToDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual absl::Status CopyToHost(void* dst, const void* src, size_t bytes) = 0;
  virtual absl::Status Synchronize() = 0;

  // --- asynchronous host->device copies (the expert loader's link) ---
  // Whether copies from pinned host memory are faster than from pageable memory (a GPU: yes),
  // i.e. whether the expert store should pin its host copies.
  virtual bool copies_want_pinned_host() const { return false; }
  // `what` names the allocation in the error when pinned memory runs out.
  virtual absl::StatusOr<std::unique_ptr<HostBuffer>> AllocateHost(size_t bytes, std::string_view what) = 0;
  // Page-locks existing host memory (e.g. the mapped model file's experts) so copies from it run
  // at the link's speed. FailedPrecondition when the system refuses (the memory stays usable,
  // copies from it are only slower); the CPU backend returns a handle that does nothing.
  virtual absl::StatusOr<std::unique_ptr<HostRegistration>> RegisterHost(const void* data, size_t bytes,
                                                                          std::string_view what) = 0;
  // Queues a copy on the copy queue, beside the compute stream: it starts after every op queued
  // before this call (so device memory that those ops read may be the destination) and runs
  // concurrently with ops queued after it, which must not read `dst` before WaitCopy. `src` must
  // stay valid until the copy is done; pinned sources (AllocateHost, RegisterHost) copy fastest.
  // The CPU backend copies at once.
  virtual absl::StatusOr<CopyFence> CopyToDeviceAsync(void* dst, const void* src, size_t bytes) = 0;
  // Whether every copy up to `fence` has completed.
  virtual absl::StatusOr<bool> CopyDone(CopyFence fence) = 0;
  // Blocks the calling thread until every copy up to `fence` has completed.
  virtual absl::Status WaitCopy(CopyFence fence) = 0;

  // --- recorded op sequences (CUDA graphs) ---
  // A backend that can record may capture the ops queued between BeginRecording and
  // EndRecording instead of running them, and run the whole sequence again with one call to
  // Replay: what is replayed are the same ops on the same addresses with the same arguments, so
  // anything that changes between replays must be in device memory the ops read. While
  // recording, calls that need the host (copies, synchronization, allocation, host-side
  // arguments that are uploaded) fail with FailedPrecondition; EndRecording then fails too and
  // nothing was run. The CPU backend does not record.
  virtual bool can_record() const { return false; }
  virtual absl::Status BeginRecording() { return absl::UnimplementedError("this backend does not record ops"); }
  // The recording's id (> 0), or the error that spoiled it (recording has stopped either way).
  virtual absl::StatusOr<int64_t> EndRecording() {
    return absl::UnimplementedError("this backend does not record ops");
  }
  virtual absl::Status Replay(int64_t id) { return absl::UnimplementedError("this backend does not record ops"); }
  virtual void DropRecording(int64_t id) {}
  // Changes whenever the backend moves a buffer of its own that ops use (scratch that grew):
  // recordings made before may hold the old address and must not be replayed.
  virtual uint64_t buffers_epoch() const { return 0; }

  // --- ops ---
  // out[i, :] = row ids[i] of table, as float32.
  virtual absl::Status GetRows(const WeightView& table, const int32_t* ids_host, int32_t n, float* out) = 0;
  // GetRows with the ids in backend memory (a step's uploaded metadata), so it can be recorded.
  // REQUIRES: every id in [0, table.rows), checked by the caller before the upload (the CUDA
  // backend cannot check them without a synchronization).
  virtual absl::Status GetRowsDevice(const WeightView& table, const int32_t* ids_device, int32_t n, float* out) = 0;
  // y[t, r] = sum_c W[r, c] * x[t, c] for t < n_tokens.
  virtual absl::Status MatMul(const WeightView& w, const float* x, int32_t n_tokens, float* y) = 0;
  // MatMul of several weights over one input (q, k and v of a layer): ys[i] = ws[i] x. A
  // backend that prepares the input per product (CUDA quantizes it to int8) does so once. The
  // weights must be ones no queued op writes (model weights, not expert cache slots): CUDA lets
  // a product's weight loads start before the products queued before it have finished.
  virtual absl::Status MatMuls(std::span<const WeightView* const> ws, const float* x, int32_t n_tokens,
                               std::span<float* const> ys) {
    if (ws.size() != ys.size()) return absl::InvalidArgumentError("matmuls: as many outputs as weights needed");
    for (size_t i = 0; i < ws.size(); ++i) {
      if (absl::Status s = MatMul(*ws[i], x, n_tokens, ys[i]); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // y[t, :] += W x[t, :] (attention's output product into the residual stream), the same sums as
  // MatMul into tmp then Add(y, tmp). tmp ([n_tokens, w.rows]) may be used as scratch; its contents
  // afterwards are unspecified. CUDA adds in the product's own kernel where it can.
  virtual absl::Status MatMulAdd(const WeightView& w, const float* x, int32_t n_tokens, float* tmp, float* y) {
    if (absl::Status s = MatMul(w, x, n_tokens, tmp); !s.ok()) return s;
    return Add(y, tmp, int64_t{n_tokens} * w.rows);
  }
  // out[r, :] = x[r, :] / rms(x[r, :]) * weight (weight may be null: no scale).
  virtual absl::Status RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                               float* out) = 0;
  // RmsNorm whose output the products that follow read (MatMul, MatMuls, MatMulAdd, RoutedExperts
  // over `out`): a backend that prepares product inputs (CUDA quantizes them to int8) may do so
  // in the same kernel, for those products to reuse. The caller writes `out` only through backend
  // ops until the next RmsNormForProducts (the CUDA backend notices an op whose output is `out`).
  // Results are those of RmsNorm followed by the products, up to the norm's summation order.
  virtual absl::Status RmsNormForProducts(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                                          float* out) {
    return RmsNorm(x, weight, n_rows, dim, eps, out);
  }
  // An MoE layer's RmsNormForProducts followed by its router over the output: MatMul(router, out)
  // into logits ([n_rows, rp.n_expert]), then Router(rp) over them (rp.logits is not read;
  // rp.n_tokens == n_rows). The same results up to summation order; CUDA computes the logits and
  // the choice in the norm's own kernel where it can (the choice kept in backend memory, a float
  // router, a decode-sized batch).
  virtual absl::Status RmsNormRoute(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                                    float* out, const WeightView& router, float* logits, const RouterParams& rp) {
    if (absl::Status s = RmsNormForProducts(x, weight, n_rows, dim, eps, out); !s.ok()) return s;
    if (absl::Status s = MatMul(router, out, static_cast<int32_t>(n_rows), logits); !s.ok()) return s;
    RouterParams from_logits = rp;
    from_logits.logits = logits;
    return Router(from_logits);
  }
  virtual absl::Status Rope(const RopeParams& p) = 0;
  virtual absl::Status WriteKv(const KvWriteParams& p) = 0;
  virtual absl::Status Attention(const AttentionParams& p) = 0;
  // out = silu(gate) * up, elementwise over n.
  virtual absl::Status SiluMul(const float* gate, const float* up, int64_t n, float* out) = 0;
  // x[i] += y[i].
  virtual absl::Status Add(float* x, const float* y, int64_t n) = 0;
  // x[i] = value.
  virtual absl::Status Fill(float* x, float value, int64_t n) = 0;
  // x[r, :] += bias[:] for every row.
  virtual absl::Status AddRowBias(float* x, const float* bias, int64_t n_rows, int64_t dim) = 0;
  virtual absl::Status Router(const RouterParams& p) = 0;
  // dst[i, :] = src[rows_host[i], :]
  virtual absl::Status GatherRows(const float* src, const int32_t* rows_host, int32_t n, int64_t dim,
                                  float* dst) = 0;
  // GatherRows with the row indices in backend memory (recordable); REQUIRES: each in range.
  virtual absl::Status GatherRowsDevice(const float* src, const int32_t* rows_device, int32_t n, int64_t dim,
                                        float* dst) = 0;
  // dst[rows_host[i], :] += scales_host[i] * src[i, :]
  virtual absl::Status ScatterAddScaled(const float* src, const int32_t* rows_host, const float* scales_host,
                                        int32_t n, int64_t dim, float* dst) = 0;
  // x[r, :] *= sigmoid(gate[r]) (gate in device memory, one value per row).
  virtual absl::Status ScaleRowsBySigmoid(float* x, const float* gate, int64_t n_rows, int64_t dim) = 0;
  // Whether RoutedExperts runs these experts for this many tokens (a decode-sized batch, or a
  // larger one with the choice on the host).
  virtual bool RoutedExpertsCanRun(const RoutedExpertsParams& p) = 0;
  // Whether keeping the router's choice in backend memory saves anything (a GPU: a host round
  // trip per layer). The CPU backend's RoutedExperts is a twin for tests: there the host-routed
  // way, which groups tokens by expert, reads fewer bytes. Engine and benchmark ask this before
  // they turn device routing on.
  virtual bool device_routing_pays() const { return false; }
  virtual absl::Status RoutedExperts(const RoutedExpertsParams& p) = 0;
};

}  // namespace hobbit::runtime
