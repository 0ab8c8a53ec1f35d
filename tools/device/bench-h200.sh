#!/usr/bin/env bash
# Runs ON the GPU machine (inside one device `run` call, from the repository root): the
# offloading benchmark at real shapes with random weights — hobbit-tool bench on the
# mixtral-8x7b shape (8 of its 32 layers, Q8_0, int2 low copies: the paper's 8-bit profile) and
# on qwen3-30b-a3b (all 48 layers, Q8_0) — JSON and tables under $OUT. Build first, here:
#
#   tools/device/bundle.sh build-eval hobbit-tool
#   run(command="tools/device/bench-h200.sh build-eval", carry=["build-eval"], timeout_s=600)
#
# Which runs: BENCHES="mixtral qwen3" (default), any of:
#   mixtral          8 layers, Q8_0 highs, int2 lows, hobbit at two threshold pairs, --tune
#   mixtral-paths    the same model: hobbit with the prefetch throttle off (the paper), on (our
#                    default), and on with the CPU path — what each of our additions does on a
#                    link-bound machine
#   mixtral-q4_0     8 layers, Q4_0 highs and int2 lows: the file llama.cpp was measured on
#                    (hobbit-algorithms.md: 47 / 70 tok/s at 25 / 50 % of the experts on the GPU)
#   qwen3            qwen3-30b-a3b, all 48 layers, Q8_0
#   resident         resident decode (batch 1 and 8) of the 8-layer mixtral shape in Q8_0 and the
#                    4-layer one in Q4_K, with the router's choice kept on the device
#                    (engine.device_routing) and not, with CUDA graphs (engine.cuda_graphs), and
#                    with prefill products in f32 and in f16 (engine.prefill_precision;
#                    RESIDENT_VARIANTS picks others, tf32 included)
#   resident-qwen3   resident decode of qwen3-30b-a3b (48 layers, Q8_0), device routing with and
#                    without CUDA graphs
#   resident-long    resident decode after long prompts (LONG_PROMPTS, default "4000 16000"): the
#                    8-layer mixtral shape and qwen3-30b-a3b (4000 only: its prompt prefill is
#                    quadratic) in Q8_0, batch 1 and 8 (LONG_BATCHES), 32 timed steps each; the
#                    table's "batch t/s" column is the long-context figure
#   ncu              Nsight Compute's time of every kernel of a decode step (mixtral shape 2 layers,
#                    qwen3 shape 4 layers; Q8_0, device routing), summarized by kind per layer
#                    (tools/device/ncu-summary.py); the CSVs land in $OUT
#
# The resident runs print their share of the HBM roofline at ROOFLINE_BW bytes/s: default 4.25e12,
# cuda-kernel-bench's measured device-to-device copy on the H200 (4,257-4,264 GB/s in the runs of
# bench/results/cuda-matvec-h200-*.json); set ROOFLINE_BW from that tool on another GPU.
#
# Each model is synthesized once per call into /dev/shm (hobbit-tool synth) and its low copies
# are kept in /dev/shm/hobbit-bench-state (--state-dir), so the runs after the first of a model
# skip both (making int2 copies of 8 Mixtral layers takes ~150 s of the call on 16 cores).
set -uo pipefail

bundle="${1:?usage: $0 BUNDLE_DIR}"
out="${OUT:-/tmp/bench-out}"
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/$bundle/libs"
tool="$PWD/$bundle/bin/hobbit-tool"
state=/dev/shm/hobbit-bench-state
mkdir -p "$state"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

# model PRESET LAYERS TYPE: prints the path of that model in /dev/shm, synthesizing it if absent;
# prints nothing (and fails) when synthesis fails. Only the most recent model is kept, with its
# low copies: qwen3's 31 GB next to mixtral's 12 GB and their caches would fill /dev/shm.
model() {
  local path="/dev/shm/hobbit-bench-$1-$2l-$3.gguf"
  if [ ! -f "$path" ]; then
    rm -f /dev/shm/hobbit-bench-*.gguf "$state"/*
    stamp "synthesizing $path" >&2
    if ! timeout 300 "$tool" synth --preset "$1" --layers "$2" --type "$3" --out "$path.tmp" >&2; then
      rm -f "$path.tmp"
      echo "synthesis of $path failed" >&2
      return 1
    fi
    mv "$path.tmp" "$path"
  fi
  echo "$path"
}

for b in ${BENCHES:-mixtral qwen3}; do
  case "$b" in
    mixtral) args=(--model "$(model mixtral-8x7b 8 q8_0)" --state-dir "$state" --low-format int2
                   --budgets 0.25,0.5 --tokens 64 --warmup 8 --batch 8 --batch-steps 8 --prefill 128,512
                   --thresholds 0.6,0.9/0.4,0.7 --tune); limit=330 ;;
    mixtral-paths)
             # Three runs of hobbit on one model: the paper's loader (prefetch throttle off), ours
             # by default (throttle on), and ours with the CPU path on (the last, below).
             args=(--model "$(model mixtral-8x7b 8 q8_0)" --state-dir "$state" --low-format int2 --budgets 0.25
                   --modes resident,ondemand-lru,hobbit --tokens 64 --warmup 8 --batch 0 --prefill none
                   --thresholds 0.6,0.9/0.4,0.7); limit=200
             for variant in "nothrottle:--prefetch-throttle off" "throttle:--prefetch-throttle on"; do
               name="${variant%%:*}"
               stamp "bench $b ($name)"
               timeout "$limit" "$tool" bench "${args[@]}" ${variant#*:} --json "$out/bench-$b-$name.json" \
                 >"$out/bench-$b-$name.txt" 2>"$out/bench-$b-$name.log"
               echo "exit $? ($name)"; grep -E "^(ondemand|hobbit)" "$out/bench-$b-$name.txt" | head -6
             done
             args+=(--cpu-path on) ;;
    resident)
             # Q4_K weights take ~70 ns an element to make on one core: 4 layers keep it near a minute.
             for type in ${RESIDENT_TYPES:-q8_0 q4_k}; do
               layers=8; [ "$type" = q4_k ] && layers=4
               path="$(model mixtral-8x7b "$layers" "$type")" || continue
               # routing:graphs:precision, the precision of prefill products f16, tf32 or f32 (the
               # last variant: f16, the default); RESIDENT_VARIANTS="on:on:f16" runs only the
               # defaults, "on:on:f16 on:on:tf32 on:on:f32" compares the three precisions.
               for variant in ${RESIDENT_VARIANTS:-off:off:f32 on:off:f32 on:on:f32 on:on:f16}; do
                 IFS=: read -r routing graphs precision <<<"$variant"
                 name="$type-routing-$routing-graphs-$graphs-prefill-$precision"
                 timeout 120 "$tool" bench --model "$path" --modes resident --tokens 64 \
                   --warmup 8 --batch 8 --batch-steps 16 --prefill 512 --prefill-runs 3 --device-routing "$routing" --cuda-graphs "$graphs" \
                   --prefill-precision "$precision" --roofline-bandwidth "${ROOFLINE_BW:-4.25e12}" \
                   --json "$out/bench-resident-$name.json" >"$out/bench-resident-$name.txt" 2>&1
                 echo "exit $? ($name)"; grep -E "^resident|recorded" "$out/bench-resident-$name.txt" | head -3
               done
             done
             continue ;;
    resident-long)
             for shape in mixtral-8x7b:8 qwen3-30b-a3b:0; do
               preset="${shape%%:*}" layers="${shape#*:}"
               path="$(model "$preset" "$layers" q8_0)" || continue
               for prompt in ${LONG_PROMPTS:-4000 16000}; do
                 [ "$preset" = qwen3-30b-a3b ] && [ "$prompt" -gt 4000 ] && continue
                 for batch in ${LONG_BATCHES:-1 8}; do
                   name="$preset-p$prompt-b$batch"
                   timeout 150 "$tool" bench --model "$path" --modes resident --tokens 16 --warmup 8 \
                     --batch "$batch" --batch-steps 32 --prompt-tokens "$prompt" --prefill none \
                     --json "$out/bench-resident-long-$name.json" >"$out/bench-resident-long-$name.txt" 2>&1
                   echo "exit $? ($name)"; grep -E "^resident" "$out/bench-resident-long-$name.txt" | head -1
                 done
               done
             done
             continue ;;
    resident-qwen3)
             path="$(model qwen3-30b-a3b 0 q8_0)" || continue
             for graphs in ${QWEN3_GRAPHS:-off on}; do
               timeout 150 "$tool" bench --model "$path" --modes resident --tokens 32 --warmup 4 --batch 8 \
                 --batch-steps 8 --prefill 128 --prefill-runs 3 --cuda-graphs "$graphs" --roofline-bandwidth "${ROOFLINE_BW:-4.25e12}" --json "$out/bench-resident-qwen3-graphs-$graphs.json" \
                 >"$out/bench-resident-qwen3-graphs-$graphs.txt" 2>&1
               echo "exit $? (qwen3, graphs $graphs)"; grep -E "^resident|recorded" "$out/bench-resident-qwen3-graphs-$graphs.txt" | head -3
             done
             continue ;;
    ncu)
             ncu_bin="$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null || true)"
             if [ -z "$ncu_bin" ]; then echo "bench ncu: no ncu here"; continue; fi
             for shape in ${NCU_SHAPES:-mixtral-8x7b:2 qwen3-30b-a3b:4}; do
               preset="${shape%%:*}" layers="${shape#*:}"
               path="$(model "$preset" "$layers" q8_0)" || continue
               stamp "ncu $preset, $layers layers"
               timeout 200 "$ncu_bin" --clock-control none --metrics gpu__time_duration.sum --csv \
                 --log-file "$out/ncu-$preset-${layers}l.csv" "$tool" bench --model "$path" --modes resident --tokens 6 \
                 --warmup 2 --batch 0 --prefill none >"$out/ncu-$preset-${layers}l.txt" 2>&1
               echo "exit $?"
               python3 "$(dirname "$0")/ncu-summary.py" "$out/ncu-$preset-${layers}l.csv" --layers "$layers"
             done
             continue ;;
    mixtral-q4_0)
             args=(--model "$(model mixtral-8x7b 8 q4_0)" --state-dir "$state" --low-format int2
                   --budgets 0.25,0.5 --modes resident,ondemand-lru,hobbit --tokens 64 --warmup 8 --batch 8
                   --batch-steps 8 --prefill 512 --thresholds 0.6,0.9/0.4,0.7); limit=250 ;;
    qwen3)   args=(--model "$(model qwen3-30b-a3b 0 q8_0)" --state-dir "$state" --low-format int2 --budgets 0.25
                   --modes resident,ondemand-lru,hobbit --tokens 32 --warmup 4 --batch 8 --batch-steps 4
                   --prefill 128); limit=200 ;;
    *) echo "unknown bench $b"; continue ;;
  esac
  if [ "${args[0]}" = --model ] && [ -z "${args[1]}" ]; then echo "bench $b: no model"; continue; fi
  stamp "bench $b: ${args[*]}"
  timeout "$limit" "$tool" bench "${args[@]}" --json "$out/bench-$b.json" >"$out/bench-$b.txt" 2>"$out/bench-$b.log"
  echo "exit $?"
  tail -30 "$out/bench-$b.txt"
  grep -iE "error|warning" "$out/bench-$b.log" | head -5
done
stamp "done"
