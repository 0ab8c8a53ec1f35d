#!/usr/bin/env bash
# An A/B of the CUDA kernels against an earlier revision in ONE device call: builds
# cuda-kernel-bench at BASE (a temporary git worktree, bundled into build-abbase/) and the GPU
# suite of the working tree (tools/device/run-gpu-suite.sh, build-gpu/), then prints the `run`
# call that runs the new suite once and the two benchmarks alternately, and compares them
# (tools/device/ab-compare.py). Separate machine starts differ by a few percent, more than many
# kernel changes: a regression of Q8_0's matvec (81.7 -> 76.8 %) was only told from the
# machine this way (BENCHMARKS.md, fifth numbers).
#
#   tools/device/ab-kernel-bench.sh 96a06ce      # then make the printed call
set -euo pipefail

base="${1:?usage: $0 BASE_REVISION}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
tree="$(mktemp -d)/hobbit-ab-base"
git -C "$root" worktree add --detach "$tree" "$base" >/dev/null
trap 'git -C "$root" worktree remove --force "$tree"; git -C "$root" worktree prune; rm -rf "$(dirname "$tree")"' EXIT
# Only the benchmark's folders: tests and servers of an older tree need not configure.
(cd "$tree" && HOBBIT_SKIP_DIRS="server;clients;proto;tests;tools" tools/device/bundle.sh build-abbase cuda-kernel-bench)
rm -rf "$root/build-abbase"
cp -r "$tree/build-abbase" "$root/build-abbase"
"$root/tools/device/run-gpu-suite.sh" >/dev/null

cat <<RUN

Now make this one device call (tool \`run\`, kind nvidia-h200):
  carry:   ["build-gpu", "build-abbase"]
  timeout_s: 400
  command:
set -o pipefail; export LD_LIBRARY_PATH=\$PWD/build-gpu/libs; timeout 200 build-gpu/bin/cuda_kernels_test --gtest_brief=1 > \$OUT/tests.log 2>&1; echo "tests exit \$?"; grep -E '^\[  (PASSED|FAILED) ' \$OUT/tests.log; for r in 1 2; do LD_LIBRARY_PATH=\$PWD/build-gpu/libs timeout 100 build-gpu/bin/cuda-kernel-bench --json \$OUT/new-\$r.json > /dev/null; LD_LIBRARY_PATH=\$PWD/build-abbase/libs timeout 100 build-abbase/bin/cuda-kernel-bench --json \$OUT/old-\$r.json > /dev/null; done; python3 tools/device/ab-compare.py \$OUT/new-*.json -- \$OUT/old-*.json
RUN
