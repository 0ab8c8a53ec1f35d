// CudaTwinTest: a GoogleTest fixture that runs the same op on the CPU backend (the reference,
// kernels/cpu and kernels/quant) and on the CUDA backend, with helpers to place fresh random
// inputs in both and to read CUDA outputs back. Every CUDA output buffer is poisoned (all bits
// set: a NaN) before the op runs, so an element the op fails to write fails the comparison.
// Tests skip themselves when no CUDA device is present.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/backend/cpu_backend.h"
#include "runtime/backend/cuda_backend.h"

namespace hobbit::runtime {

// One array in both backends' memory.
struct TwinBuffer {
  std::unique_ptr<DeviceBuffer> cpu;
  std::unique_ptr<DeviceBuffer> gpu;
  size_t bytes = 0;

  template <typename T>
  T* c() { return cpu->as<T>(); }
  template <typename T>
  T* g() { return gpu->as<T>(); }
};

class CudaTwinTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // A buffer holding `host` in both backends.
  template <typename T>
  TwinBuffer Twin(const std::vector<T>& host) {
    TwinBuffer b = Empty(host.size() * sizeof(T));
    std::copy(host.begin(), host.end(), b.c<T>());
    EXPECT_TRUE(gpu_->CopyToDevice(b.gpu->data(), host.data(), b.bytes).ok());
    return b;
  }
  // A buffer of `bytes` in both backends, the CUDA copy poisoned.
  TwinBuffer Empty(size_t bytes);
  // Sets every bit of the CUDA copy (NaN as float32, -1 as int32).
  void Poison(TwinBuffer& b);

  template <typename T>
  std::vector<T> Download(TwinBuffer& b) {
    std::vector<T> out(b.bytes / sizeof(T));
    EXPECT_TRUE(gpu_->CopyToHost(out.data(), b.gpu->data(), b.bytes).ok());
    return out;
  }
  template <typename T>
  std::vector<T> CpuCopy(TwinBuffer& b) {
    return std::vector<T>(b.c<T>(), b.c<T>() + b.bytes / sizeof(T));
  }

  std::vector<float> RandomFloats(size_t n, float stddev = 1.0f);

  std::mt19937 rng_{20261128};
  std::unique_ptr<CpuBackend> cpu_;
  std::unique_ptr<CudaBackend> gpu_;
};

// ||a - b|| / ||b||, or infinity when a holds a NaN (an unwritten, poisoned element) or the
// sizes differ.
double RelativeError(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace hobbit::runtime
