// HostExpertRunner: the CPU as a second path for missed experts (hobbit-algorithms.md §6, ours).
//
// On a machine whose host cores read memory about as fast as the link copies it (the H200
// machine: ~50 GB/s either way), a missed expert can be computed on the CPU from its host copy
// instead of being copied to the device; doing both at once nearly doubles the bandwidth
// available to misses. The expert loader queues the experts it sends here for a layer, starts
// them in the background on CPU threads, runs the device's experts meanwhile, then collects the
// outputs (already scaled by the router weights) and adds them into the layer's output on the
// device.
// (Outputs are unscaled; the loader adds them with the router weights.)
//
//   runner.Add(copy, rows, scales);        // per expert sent to the CPU
//   runner.Start(x_host);                 // x_host: the layer input, [n_tokens, n_embd]
//   ... device work ...
//   HOBBIT_RETURN_IF_ERROR(runner.Finish());
//   // runner.rows()/scales()/outputs(): one output row per (token, expert) pair
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/experts/expert_store.h"

namespace hobbit::kernels {
class ThreadPool;
}

namespace hobbit::runtime {

// Engine thread only, except the background computation Start begins (which touches only the
// queued work and this object's buffers until Finish returns).
class HostExpertRunner {
 public:
  // threads: CPU threads for the products (0: one per core).
  HostExpertRunner(int32_t n_embd, int32_t n_ff, int32_t threads);
  ~HostExpertRunner();

  // Bytes per second of expert weights this runner computes through: the best of `repeats`
  // runs of one token through `copy` (after a warm-up run).
  absl::StatusOr<double> MeasureBandwidth(const ExpertCopy& copy, int repeats);

  // Queues an expert for the next Start: `rows` index the layer input, `scales` weigh the output.
  void Add(const ExpertCopy& copy, std::vector<int32_t> rows, std::vector<float> scales);
  bool empty() const { return work_.empty(); }
  // Drops the queued experts without running them (REQUIRES: not started).
  void Clear() { work_.clear(); }

  // Computes the queued experts in the background; x_host must stay valid until Finish.
  void Start(const float* x_host);
  // Waits for them. Then output row i of outputs() ([rows().size(), n_embd]) belongs to
  // layer-input row rows()[i] with router weight scales()[i]; the queue is empty again.
  absl::Status Finish();
  const std::vector<int32_t>& rows() const { return out_rows_; }
  const std::vector<float>& scales() const { return out_scales_; }
  const std::vector<float>& outputs() const { return out_; }

 private:
  struct Work {
    ExpertCopy copy;
    std::vector<int32_t> rows;
    std::vector<float> scales;
  };
  // One expert's SwiGLU FFN over its rows of x into out (rows.size() x n_embd), scaled.
  absl::Status RunOne(const Work& w, const float* x, float* out);
  absl::Status RunAll(const float* x);

  int32_t n_embd_;
  int32_t n_ff_;
  std::unique_ptr<kernels::ThreadPool> pool_;
  std::vector<Work> work_;
  std::future<absl::Status> running_;
  std::vector<int32_t> out_rows_;
  std::vector<float> out_scales_;
  std::vector<float> out_;
  std::vector<float> xe_, gate_, up_;  // scratch of the background computation
};

}  // namespace hobbit::runtime
