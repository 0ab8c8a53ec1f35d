#!/usr/bin/env bash
# Builds the kernel-timeline injection library (kernel_trace.cc) into build-trace/ with the
# CUPTI library beside it, for a device call that carries build-trace. Usage (repository root):
#   tools/device/kernel_trace/build.sh [CUDA_HOME]      # default /usr/local/cuda
set -euo pipefail
cuda="${1:-/usr/local/cuda}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cupti=""
for f in "$cuda"/lib/libcupti.so.* "$cuda"/lib64/libcupti.so.* "$cuda"/extras/CUPTI/lib64/libcupti.so.*; do
  [ -f "$f" ] && { cupti="$f"; break; }
done
[ -n "$cupti" ] || { echo "build.sh: no libcupti.so.* under $cuda (lib, lib64, extras/CUPTI/lib64)" >&2; exit 1; }
mkdir -p "$root/build-trace"
g++ -std=c++20 -O2 -Wall -Wextra -Werror -shared -fPIC "$root/tools/device/kernel_trace/kernel_trace.cc" \
  -I"$cuda/include" -L"$(dirname "$cupti")" -l:"$(basename "$cupti")" -o "$root/build-trace/libkernel_trace.so"
cp "$cupti" "$root/build-trace/"
echo "build.sh: $root/build-trace: libkernel_trace.so, $(basename "$cupti")"
