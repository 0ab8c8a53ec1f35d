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
obj="$root/build-gpu-obj"
out="$root/build-gpu"
targets=(cuda_kernels_test cuda-kernel-bench)

# Host code at -O2: GCC 12 at -O3 raises -Wmaybe-uninitialized (an error here) in gguf_parser.cc.
# Folders the GPU suite does not need (gRPC, other test binaries) stay out of the configure, so a
# half-written folder elsewhere cannot stop it.
mkdir -p "$obj"
cmake -S "$root" -B "$obj" -G Ninja -DHOBBIT_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DHOBBIT_SKIP_DIRS="server;clients;proto;tests/server;tests/integration;tests/tools;tests/runtime/experts;tests/runtime/engine;tests/runtime/scheduler" \
  >"$obj/configure.log" 2>&1 || { cat "$obj/configure.log"; exit 1; }
ninja -C "$obj" -j"${HOBBIT_BUILD_JOBS:-2}" "${targets[@]}"

rm -rf "$out"
mkdir -p "$out/bin" "$out/libs"
skip='^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|ld-linux-x86-64|linux-vdso|libcuda|libcudart|libcublas|libcublasLt|libnvidia)\.so'
for t in "${targets[@]}"; do
  cp "$obj/bin/$t" "$out/bin/"
  strip --strip-unneeded "$out/bin/$t"
  ldd "$obj/bin/$t" | awk '/=>/ {print $3}' | while read -r lib; do
    [ -f "$lib" ] || continue
    if ! basename "$lib" | grep -Eq "$skip"; then cp -nL "$lib" "$out/libs/"; fi
  done
done
echo "bundle: $(du -sh "$out" | cut -f1) in $out (bin: ${targets[*]}; libs: $(ls "$out/libs" | wc -l) files)"

cat <<'RUN'

Now make this one device call (tool `run`, kind nvidia-h200):
  carry:   ["build-gpu"]
  timeout_s: 330
  command:
set -o pipefail; export LD_LIBRARY_PATH=$PWD/build-gpu/libs; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv | tee $OUT/gpu.txt; timeout 200 build-gpu/bin/cuda_kernels_test --gtest_brief=1 --gtest_output=json:$OUT/tests.json > $OUT/tests.log 2>&1; echo "tests exit $?"; grep -E '^\[  (PASSED|FAILED|SKIPPED) |Failure' $OUT/tests.log | head -60; grep -E 'relative error' $OUT/tests.log; timeout 100 build-gpu/bin/cuda-kernel-bench --json $OUT/bench.json 2>&1 | tee $OUT/bench.log
RUN
