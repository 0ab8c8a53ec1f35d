#!/usr/bin/env bash
# Builds the GPU test binary and the CUDA kernel benchmark for the H200 (sm_90) here, bundles the
# shared libraries the GPU machine lacks, and prints the one `run` call that executes both there
# (docs: shared/docs/device.md, "The recipe that works").
#
#   tools/device/run-gpu-suite.sh            # build + bundle, then print the run call
#
# Layout (git-ignored): build-gpu-obj/ is the CMake build (Release, CUDA on, arch 90, no debug
# info); build-gpu/ is what travels: bin/ with the two executables and libs/ with their
# non-system shared libraries (libc, libm, libstdc++, libgcc_s, the CUDA libraries and the other
# base-system libraries stay behind: the GPU machine has its own).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
# Folders the GPU suite does not need (gRPC, other test binaries) stay out of the configure, so a
# half-written folder elsewhere cannot stop it.
HOBBIT_SKIP_DIRS="server;clients;proto;tests/server;tests/integration;tests/tools;tests/runtime/experts;tests/runtime/engine;tests/runtime/scheduler" \
  "$root/tools/device/bundle.sh" build-gpu cuda_kernels_test cuda-kernel-bench

cat <<'RUN'

Now make this one device call (tool `run`, kind nvidia-h200):
  carry:   ["build-gpu"]
  timeout_s: 330
  command:
set -o pipefail; export LD_LIBRARY_PATH=$PWD/build-gpu/libs; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv | tee $OUT/gpu.txt; timeout 200 build-gpu/bin/cuda_kernels_test --gtest_brief=1 --gtest_output=json:$OUT/tests.json > $OUT/tests.log 2>&1; echo "tests exit $?"; grep -E '^\[  (PASSED|FAILED|SKIPPED) |Failure' $OUT/tests.log | head -60; grep -E 'relative error' $OUT/tests.log; timeout 100 build-gpu/bin/cuda-kernel-bench --json $OUT/bench.json 2>&1 | tee $OUT/bench.log
RUN
