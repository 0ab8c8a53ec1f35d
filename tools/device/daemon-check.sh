#!/usr/bin/env bash
# hobbitd end to end with recorded decode steps (engine.cuda_graphs) under concurrent load: runs
# ON the GPU machine inside one device `run` call (from the repository root), or here on the CPU
# to check the script. For cuda_graphs true and false it starts hobbitd on the demo model
# (resident experts), streams five greedy completions (one of a prompt of several hundred tokens)
# one at a time, then the same five at once,
# and reads hobbit_decode_graph_replays_total from /metrics. Prints what differs; writes every text
# and log under $OUT. Build the bundle here first:
#
#   tools/device/bundle.sh build-dev hobbitd hobbit hobbit-tool
#   run(command="tools/device/daemon-check.sh build-dev", carry=["build-dev"])
#
# MODEL=PATH picks the model (default: the demo model). Decode steps are recorded only when every
# MoE layer routes on the device (hobbitd's load line says "device routing on"); the demo model's
# tiny expert rows do not fit the routed kernel, so on the GPU give a model that does, e.g. one
# made there with `hobbit-tool synth --preset mixtral-8x7b --layers 2 --type q8_0 --out M.gguf`.
#
# What to expect: with graphs on, the replayed counter grows and the solo texts equal those with
# graphs off (a replay computes what the direct step computes, bit for bit). Concurrent texts may
# differ from solo ones where batching changes the products' summation (int8 activations per
# token are the same, the kernels for 1 and 4 tokens are not), which the script reports, not fails.
set -uo pipefail
source "$(dirname "$0")/hobbitd-ready.sh"

bundle="${1:?usage: $0 BUNDLE_DIR [BACKEND]}"
backend="${2:-cuda}"
export LD_LIBRARY_PATH="$PWD/$bundle/libs"
bin="$PWD/$bundle/bin"
out="${OUT:-/tmp/daemon-check}"
mkdir -p "$out"
model="${MODEL:-$PWD/config/models/hobbit-demo-q8_0.gguf}"
prompts=("The history of the" "Once upon a time" "In the beginning there was" "The main reason why")
# A prompt of several hundred tokens: prefilled in chunks of engine.scheduler.step_token_budget (256)
# on the prefill products (decoded tiles, or the experts grouped by expert), and, concurrently,
# in steps shared with the other streams' decode tokens.
long_prompt=""
for _ in $(seq 20); do long_prompt+="The river runs past the old mill and on to the sea. "; done
prompts+=("$long_prompt")
status=0

for graphs in true false; do
  port=$((50300 + RANDOM % 500))
  mport=$((port + 1000))
  cfg="$out/hobbitd-graphs-$graphs.yaml"
  cat >"$cfg" <<YAML
model:
  path: $model
engine:
  backend: $backend
  cuda_graphs: $graphs
server:
  listen: 127.0.0.1:$port
metrics:
  listen: 127.0.0.1:$mport
experts:
  mode: resident
YAML
  "$bin/hobbitd" --config "$cfg" >"$out/hobbitd-graphs-$graphs.log" 2>&1 &
  pid=$!
  if ! wait_ready "$bin/hobbit" "$pid" "$port" 60; then
    echo "graphs $graphs: hobbitd did not become ready"; tail -20 "$out/hobbitd-graphs-$graphs.log"
    kill -9 "$pid" 2>/dev/null; status=1; continue
  fi
  gen() {  # gen INDEX MODE
    "$bin/hobbit" generate --server "127.0.0.1:$port" --prompt "${prompts[$1]}" --max-tokens 64 --temperature 0 \
      --ignore-eos >"$out/text-graphs-$graphs-$2-$1.txt" 2>"$out/final-graphs-$graphs-$2-$1.txt"
  }
  for i in "${!prompts[@]}"; do gen "$i" solo || { echo "graphs $graphs: solo $i failed"; status=1; }; done
  pids=()
  for i in "${!prompts[@]}"; do gen "$i" together & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || { echo "graphs $graphs: a concurrent stream failed"; status=1; }; done
  python3 -c "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())" \
    "http://127.0.0.1:$mport/metrics" | grep -E '^hobbit_decode_graph_(replays|recordings)_total' | tee "$out/graphs-$graphs.metrics"
  kill -TERM "$pid"; wait "$pid"; echo "graphs $graphs: hobbitd exit $?"
  for i in "${!prompts[@]}"; do
    if ! cmp -s "$out/text-graphs-$graphs-solo-$i.txt" "$out/text-graphs-$graphs-together-$i.txt"; then
      echo "graphs $graphs: prompt $i differs between solo and concurrent"
    fi
  done
done

for i in "${!prompts[@]}"; do
  if cmp -s "$out/text-graphs-true-solo-$i.txt" "$out/text-graphs-false-solo-$i.txt"; then
    echo "prompt $i: solo text equal with and without graphs"
  else
    echo "prompt $i: solo text DIFFERS with and without graphs"; status=1
  fi
done
replayed=$(awk '/^hobbit_decode_graph_replays_total/ {print $2}' "$out/graphs-true.metrics" 2>/dev/null)
echo "replayed decode steps with graphs on: ${replayed:-none}"
if [ "$backend" = cuda ] && [ "${replayed%.*}" = 0 -o -z "$replayed" ]; then
  if grep -q "device routing off" "$out/hobbitd-graphs-true.log"; then
    echo "no decode step was replayed: this model's experts do not route on the device (see MODEL above)"
  else
    echo "no decode step was replayed on the GPU"
  fi
  status=1
fi
exit "$status"
