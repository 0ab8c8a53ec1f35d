// Launch-shape sweep of the one-token dot kernel (kernels/cuda/quant_matvec.cu, included so its
// internal templates can be launched directly) on the GPU: for each integer type at 14336x4096,
// 4096x14336 and 4096x4096, every DotShape below, with the activation quantization kernel before
// each call (q) and without (-), as cuda-kernel-bench times them (CUDA-event medians, weight
// copies rotated past the L2). Random bytes stand in for the weights (the time does not depend on
// the values; every fp16 scale is kept normal). An offline tool for picking OneTokenShape, not
// part of the build (BENCHMARKS.md, "Matvec launch shapes"). Build and run (sm_90):
//
//   nvcc -I. -O3 -DNDEBUG -arch=sm_90 -std=c++20 tools/device/sweeps/dot_shapes.cu -o build-exp/dot_shapes \
//     -labsl_strings -labsl_status
//   (bundle the absl libraries it names in ldd next to it, as tools/device/bundle.sh does)
//   build-exp/dot_shapes [TYPE...]          # e.g. Q4_K Q8_0: only those types
#include "kernels/cuda/quant_matvec.cu"
#include "tools/device/sweeps/one_token_dot.cuh"

using namespace hobbit::kernels;
using namespace hobbit::kernels::cuda_internal;

template <class T, class S>
void Time(const char* type, const char* name, const sweep::Weights& ws, int64_t rows, int64_t cols, int64_t row_bytes,
          const sweep::Ctx& c) {
  sweep::TimeOneToken(type, name, ws, rows, cols, c,
                      [&](int k) { sweep::LaunchOneTokenDot<T, S>(ws.Copy(k), rows, cols, row_bytes, c, c.y); });
}

template <class T>
void Sweep(const char* type, int64_t block_bytes, int64_t block_elems, const sweep::Ctx& c, std::mt19937& rng) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{14336, 4096}, {4096, 14336}, {4096, 4096}}) {
    const int64_t row_bytes = cols / block_elems * block_bytes;
    const sweep::Weights ws = sweep::RandomWeights(rows * row_bytes, rng);
#define T_(...) Time<T, DotShape<__VA_ARGS__>>(type, #__VA_ARGS__, ws, rows, cols, row_bytes, c)
    T_(128, 4, 1);
    T_(128, 2, 2);
    T_(128, 4, 1, 8);
    T_(128, 4, 1, 6);
    T_(128, 2, 2, 8);
    T_(128, 2, 2, 6);
    T_(64, 4, 1);
    T_(64, 2, 2);
    T_(128, 2, 1);
    T_(256, 2, 1);
#undef T_
    cudaFree(ws.w);
  }
}

int main(int argc, char** argv) {
  const sweep::TypeFilter wanted(argc, argv,
                                 {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"});
  std::mt19937 rng(7);
  const sweep::Ctx c = sweep::MakeCtx(rng);
  if (wanted("Q8_0")) Sweep<Q8_0Dot<1>>("Q8_0", 34, 32, c, rng);
  if (wanted("Q4_0")) Sweep<Q45Dot<false, false, 1>>("Q4_0", 18, 32, c, rng);
  if (wanted("Q4_1")) Sweep<Q45Dot<true, false, 1>>("Q4_1", 20, 32, c, rng);
  if (wanted("Q5_0")) Sweep<Q45Dot<false, true, 1>>("Q5_0", 22, 32, c, rng);
  if (wanted("Q5_1")) Sweep<Q45Dot<true, true, 1>>("Q5_1", 24, 32, c, rng);
  if (wanted("Q2_K")) Sweep<Q2_KDot>("Q2_K", 84, 256, c, rng);
  if (wanted("Q3_K")) Sweep<Q3_KDot>("Q3_K", 110, 256, c, rng);
  if (wanted("Q4_K")) Sweep<QxKDot<false>>("Q4_K", 144, 256, c, rng);
  if (wanted("Q5_K")) Sweep<QxKDot<true>>("Q5_K", 176, 256, c, rng);
  if (wanted("Q6_K")) Sweep<Q6_KDot>("Q6_K", 210, 256, c, rng);
  return 0;
}
