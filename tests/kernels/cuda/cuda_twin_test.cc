#include "tests/kernels/cuda/cuda_twin_test.h"

#include <cuda_runtime.h>

#include <limits>

namespace hobbit::runtime {

void CudaTwinTest::SetUp() {
  if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  cpu_ = std::make_unique<CpuBackend>(CpuBackendOptions{.threads = 0});
  auto gpu = CudaBackend::Create({});
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  gpu_ = std::move(*gpu);
}

TwinBuffer CudaTwinTest::Empty(size_t bytes) {
  TwinBuffer b;
  b.bytes = bytes;
  auto c = cpu_->Allocate(bytes, "test buffer");
  auto g = gpu_->Allocate(bytes, "test buffer");
  EXPECT_TRUE(c.ok() && g.ok());
  b.cpu = std::move(*c);
  b.gpu = std::move(*g);
  Poison(b);
  return b;
}

void CudaTwinTest::Poison(TwinBuffer& b) {
  EXPECT_EQ(cudaMemsetAsync(b.gpu->data(), 0xFF, b.bytes, gpu_->stream()), cudaSuccess);
}

std::vector<float> CudaTwinTest::RandomFloats(size_t n, float stddev) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng_);
  return v;
}

double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return std::numeric_limits<double>::infinity();
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den == 0.0 ? std::sqrt(num) : std::sqrt(num / den);
}

}  // namespace hobbit::runtime
