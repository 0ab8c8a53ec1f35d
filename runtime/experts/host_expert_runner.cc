#include "runtime/experts/host_expert_runner.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "kernels/base/status_macros.h"
#include "kernels/cpu/quant_matmul.h"
#include "kernels/cpu/silu_mul.h"
#include "kernels/cpu/thread_pool.h"

namespace hobbit::runtime {
namespace {

absl::Status MatMul(const WeightView& w, const float* x, int32_t n, float* y, kernels::ThreadPool* pool) {
  kernels::QuantMatMulParams p;
  p.type = static_cast<kernels::GgmlType>(w.type);
  p.w = w.data;
  p.rows = w.rows;
  p.cols = w.cols;
  p.row_bytes = w.row_bytes;
  p.x = x;
  p.n_tokens = n;
  p.y = y;
  return kernels::QuantMatMul(p, pool);
}

}  // namespace

HostExpertRunner::HostExpertRunner(int32_t n_embd, int32_t n_ff, int32_t threads)
    : n_embd_(n_embd), n_ff_(n_ff), pool_(std::make_unique<kernels::ThreadPool>(threads)) {}

HostExpertRunner::~HostExpertRunner() {
  if (running_.valid()) running_.wait();
}

absl::StatusOr<double> HostExpertRunner::MeasureBandwidth(const ExpertCopy& copy, int repeats) {
  std::vector<float> x(static_cast<size_t>(n_embd_), 0.5f);
  Work w{copy, {0}, {1.0f}};
  std::vector<float> out(static_cast<size_t>(n_embd_));
  double best = 0.0;
  for (int i = 0; i <= repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    HOBBIT_RETURN_IF_ERROR(RunOne(w, x.data(), out.data()));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i > 0 && seconds > 0.0) best = std::max(best, static_cast<double>(copy.bytes()) / seconds);
  }
  return best;
}

void HostExpertRunner::Add(const ExpertCopy& copy, std::vector<int32_t> rows, std::vector<float> scales) {
  work_.push_back(Work{copy, std::move(rows), std::move(scales)});
}

void HostExpertRunner::Start(const float* x_host) {
  out_rows_.clear();
  out_scales_.clear();
  for (const Work& w : work_) {
    out_rows_.insert(out_rows_.end(), w.rows.begin(), w.rows.end());
    out_scales_.insert(out_scales_.end(), w.scales.begin(), w.scales.end());
  }
  out_.assign(out_rows_.size() * static_cast<size_t>(n_embd_), 0.0f);
  running_ = std::async(std::launch::async, [this, x_host] { return RunAll(x_host); });
}

absl::Status HostExpertRunner::Finish() {
  absl::Status s = running_.valid() ? running_.get() : absl::OkStatus();
  work_.clear();
  return s;
}

absl::Status HostExpertRunner::RunAll(const float* x) {
  size_t row = 0;
  for (const Work& w : work_) {
    HOBBIT_RETURN_IF_ERROR(RunOne(w, x, out_.data() + row * static_cast<size_t>(n_embd_)));
    row += w.rows.size();
  }
  return absl::OkStatus();
}

absl::Status HostExpertRunner::RunOne(const Work& w, const float* x, float* out) {
  const auto n = static_cast<int32_t>(w.rows.size());
  const size_t e = static_cast<size_t>(n_embd_), f = static_cast<size_t>(n_ff_);
  xe_.resize(n * e);
  gate_.resize(n * f);
  up_.resize(n * f);
  for (int32_t i = 0; i < n; ++i) std::memcpy(&xe_[i * e], x + w.rows[i] * e, e * sizeof(float));
  HOBBIT_RETURN_IF_ERROR(MatMul(w.copy.gate, xe_.data(), n, gate_.data(), pool_.get()));
  HOBBIT_RETURN_IF_ERROR(MatMul(w.copy.up, xe_.data(), n, up_.data(), pool_.get()));
  kernels::SiluMulF32(gate_.data(), up_.data(), int64_t{n} * n_ff_, gate_.data());
  return MatMul(w.copy.down, gate_.data(), n, out, pool_.get());
}

}  // namespace hobbit::runtime
