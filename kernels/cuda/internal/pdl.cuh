// Programmatic dependent launch (sm_90), shared by the decode kernels. Internal to kernels/cuda.
//
// Every kernel on the decode path starts with WaitForPriorGrid() — before any memory access and
// before any early return — and is launched with LaunchAfterPrior, so the next kernel's blocks may
// be scheduled while this one finishes (AllowDependentLaunch) and spend the launch latency waiting
// instead of after it. Because every kernel waits for the one before it to complete (and that
// one waited for its predecessor), the stream's order holds transitively, as with plain launches.
// The dot kernels of quant_matvec.cu and the quantizing RMSNorms (rms_norm.cu) are the exceptions:
// they load model weights (written by no kernel) before they wait (RoPE's per-head norm weights
// are written so too, but ptxas moves those loads below the wait). Such a kernel's read-only loads (__ldg, ld.global.nc) of the previous kernel's output are
// not kept below the wait by its "memory" clobber: the compiler may treat them as unchanging and
// move them above it (it did in a down product that prefetched its weights: BENCHMARKS.md,
// "seventh numbers"). Check the SASS (the wait is ACQBULK; tools/device/sass_wait_check.py) or
// read that output with ordinary or .cg loads. Wait and launch_dependents are no-ops in a kernel
// launched without the attribute.
#pragma once

#include <cuda_runtime.h>

namespace hobbit::kernels::cuda_internal {

__device__ __forceinline__ void WaitForPriorGrid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void AllowDependentLaunch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// Both, at the top of a kernel.
__device__ __forceinline__ void AfterPriorGrid() {
  WaitForPriorGrid();
  AllowDependentLaunch();
}

// Launches kernel with programmatic stream serialization; plainly where that fails.
template <typename... Params, typename... Args>
void LaunchAfterPrior(void (*kernel)(Params...), dim3 grid, dim3 threads, cudaStream_t stream, Args... args) {
#ifdef HOBBIT_CUDA_NO_PDL  // built for no sm_90+ architecture: the kernels do not wait (CMakeLists.txt)
  kernel<<<grid, threads, 0, stream>>>(static_cast<Params>(args)...);
  return;
#endif
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = threads;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = 1;
  if (cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...) != cudaSuccess) {
    cudaGetLastError();
    kernel<<<grid, threads, 0, stream>>>(static_cast<Params>(args)...);
  }
}

}  // namespace hobbit::kernels::cuda_internal
