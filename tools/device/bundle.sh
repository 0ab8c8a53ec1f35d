#!/usr/bin/env bash
# Builds executables for the H200 (CUDA on, sm_90, Release) here and bundles them with the shared
# libraries the GPU machine lacks, into a git-ignored folder that a device `run` call carries
# (docs: shared/docs/device.md, "The recipe that works").
# HOBBIT_SKIP_DIRS (a CMake list) leaves folders the targets do not need out of the configure.
#
#   tools/device/bundle.sh BUNDLE_DIR TARGET...     # e.g. build-dev hobbitd hobbit hobbit-tool
#
# BUNDLE_DIR/bin holds the stripped executables, BUNDLE_DIR/libs their non-system libraries
# (libc, libm, libstdc++, libgcc_s, the CUDA libraries and the loader stay behind: the GPU
# machine has its own). The CMake build lives in BUNDLE_DIR-obj. The demo model is not copied
# (the carried tree has it): pass --model config/models/hobbit-demo-q8_0.gguf there.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 BUNDLE_DIR TARGET..." >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/$1"
obj="$out-obj"
shift
targets=("$@")

# Host code at -O2: GCC 12 at -O3 raises -Wmaybe-uninitialized (an error here) in gguf_parser.cc.
mkdir -p "$obj"
cmake -S "$root" -B "$obj" -G Ninja -DHOBBIT_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DHOBBIT_SKIP_DIRS="${HOBBIT_SKIP_DIRS:-}" \
  >"$obj/configure.log" 2>&1 || { cat "$obj/configure.log"; exit 1; }
ninja -C "$obj" -j"${HOBBIT_BUILD_JOBS:-2}" "${targets[@]}"

rm -rf "$out"
mkdir -p "$out/bin" "$out/libs"
# Also left behind: base libraries every Ubuntu 24.04 image with Python has under the same
# sonames (the carried tree is limited to 64 MiB; these are 9 MB). `ldd ... | grep "not found"`
# there says if one is missing.
skip='^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|ld-linux-x86-64|linux-vdso|libcuda|libcudart|libcublas|libcublasLt|libnvidia|libcrypto|libssl|libz|liblzma|libzstd|liblz4|libsystemd|libgcrypt|libgpg-error|libcap)\.so'
for t in "${targets[@]}"; do
  cp "$obj/bin/$t" "$out/bin/"
  strip --strip-unneeded "$out/bin/$t"
  ldd "$obj/bin/$t" | awk '/=>/ {print $3}' | while read -r lib; do
    [ -f "$lib" ] || continue
    if ! basename "$lib" | grep -Eq "$skip"; then cp -nL "$lib" "$out/libs/"; fi
  done
done
echo "bundle: $(du -sh "$out" | cut -f1) in $out (bin: ${targets[*]}; libs: $(ls "$out/libs" | wc -l) files)"
