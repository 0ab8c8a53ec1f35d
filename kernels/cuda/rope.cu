#include "kernels/cuda/rope.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/internal/launch_status.h"

namespace hobbit::kernels {
namespace {

constexpr int kThreads = 256;

// One thread per (token, head, pair).
__global__ void RopeKernel(CudaRopeParams p) {
  const int32_t half = p.n_rot / 2;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(p.n_tokens) * p.n_heads * half) return;
  const int32_t i = static_cast<int32_t>(idx % half);
  const int64_t th = idx / half;  // token * n_heads + head
  const int32_t t = static_cast<int32_t>(th / p.n_heads);
  float* v = p.x + th * p.head_dim;
  const double inv_freq = pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
  const double theta = static_cast<double>(p.positions[t]) * p.freq_scale * inv_freq;
  const float c = static_cast<float>(cos(theta));
  const float s = static_cast<float>(sin(theta));
  const int32_t a = p.half_split ? i : 2 * i;
  const int32_t b = p.half_split ? i + half : 2 * i + 1;
  const float x0 = v[a];
  const float x1 = v[b];
  v[a] = x0 * c - x1 * s;
  v[b] = x0 * s + x1 * c;
}

}  // namespace

absl::Status RopeF32(const CudaRopeParams& p, CUstream_st* stream) {
  if (p.n_rot % 2 != 0 || p.n_rot > p.head_dim || p.n_rot < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cuda rope: n_rot ", p.n_rot, " must be even and <= head_dim ",
                                                   p.head_dim));
  }
  const int64_t n = static_cast<int64_t>(p.n_tokens) * p.n_heads * (p.n_rot / 2);
  if (n <= 0) return absl::OkStatus();
  RopeKernel<<<cuda_internal::GridFor(n, kThreads), kThreads, 0, stream>>>(p);
  return cuda_internal::LaunchStatus("cuda rope");
}

}  // namespace hobbit::kernels
