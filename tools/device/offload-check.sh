#!/usr/bin/env bash
# Runs ON the GPU machine (inside a device `run` call, from the repository root): hobbitd serving
# a 4-layer mixtral-8x7b-shape model (Q8_0, random weights, ~6 GB of experts) with a GPU expert
# budget of a quarter of its experts, in each offloading mode given, streaming a greedy
# completion through the `hobbit` client; the final statistics line (with the expert counters)
# and GetCacheStats land in $OUT. Build the bundle here first:
#
#   tools/device/bundle.sh build-dev hobbitd hobbit hobbit-tool
#   run(command="tools/device/offload-check.sh build-dev hobbit ondemand-lru", carry=["build-dev"])
set -uo pipefail
source "$(dirname "$0")/hobbitd-ready.sh"

bundle="${1:?usage: $0 BUNDLE_DIR MODE...}"
shift
modes=("${@:-hobbit}")
export LD_LIBRARY_PATH="$PWD/$bundle/libs"
bin="$PWD/$bundle/bin"
out="${OUT:-/tmp/offload-out}"
work="${HOBBIT_WORK:-/dev/shm/hobbit-offload}"
mkdir -p "$out" "$work/state"
preset="${PRESET:-mixtral-8x7b}"
model="$work/$preset-4l-q8_0.gguf"
# 4 layers x 8 experts x 3 x (14336 x 4096 / 32 x 34 bytes) = 5.99e9 bytes of experts.
budget="${BUDGET:-1497000000}"

if [ ! -f "$model" ]; then
  start=$(date +%s)
  "$bin/hobbit-tool" synth --preset "$preset" --layers 4 --type q8_0 --out "$model" >"$out/synth.log" 2>&1 \
    || { tail -5 "$out/synth.log"; exit 1; }
  echo "synth: $(( $(date +%s) - start )) s, $(du -h "$model" | cut -f1)"
fi

port=50161
for mode in "${modes[@]}"; do
  port=$((port + 1))
  cfg="$work/$mode.yaml"
  cat >"$cfg" <<YAML
model:
  path: $model
server:
  listen: 127.0.0.1:$port
metrics:
  listen: 127.0.0.1:0
experts:
  mode: $mode
  gpu_cache_bytes: $budget
  low_format: int4
  state_dir: $work/state
YAML
  start=$(date +%s)
  "$bin/hobbitd" --config "$cfg" >"$out/hobbitd-$mode.log" 2>&1 &
  pid=$!
  if ! wait_ready "$bin/hobbit" "$pid" "$port" 120; then
    echo "== $mode: hobbitd did not become ready"; tail -20 "$out/hobbitd-$mode.log"
    kill -9 "$pid" 2>/dev/null; continue
  fi
  echo "== $mode: ready after $(( $(date +%s) - start )) s"
  for policy in balanced quality; do
    "$bin/hobbit" generate --server "127.0.0.1:$port" --prompt "The history of the" --max-tokens 48 \
      --temperature 0 --ignore-eos --precision "$policy" >"$out/generate-$mode-$policy.txt" 2>"$out/final-$mode-$policy.txt"
    echo "-- $policy (exit $?):"; head -c 200 "$out/generate-$mode-$policy.txt" | tr '\n' ' '; echo; cat "$out/final-$mode-$policy.txt"
  done
  "$bin/hobbit" stats --server "127.0.0.1:$port" >"$out/stats-$mode.txt" 2>&1
  kill -TERM "$pid"; wait "$pid"; echo "hobbitd exit $?"
  grep -E "expert|warning|error" "$out/hobbitd-$mode.log" | head -8
done
