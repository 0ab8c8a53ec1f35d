#!/usr/bin/env bash
# Runs ON the GPU machine (inside one device `run` call, from the repository root): resident
# decode of two hobbit-tool builds on the same synthesized models in one call, runs alternating,
# so the machine's spread between starts (a few percent, more than many kernel changes) cancels.
# Build both here first, e.g. the working tree and an earlier revision:
#
#   HOBBIT_SKIP_DIRS="server;clients;proto;tests" tools/device/bundle.sh build-dev hobbit-tool
#   (a worktree of the base) ... tools/device/bundle.sh build-old hobbit-tool, copied to build-old/
#   run(command="tools/device/ab-resident.sh build-old build-dev", carry=["build-dev", "build-old/bin"])
#
# The old bundle may come without libs/ (carry only its bin/): both then use NEW's libraries.
# MODELS: PRESET:LAYERS:TYPE[:PROMPT:BATCH] items (default: the 8-layer mixtral-8x7b shape in
# Q8_0; LAYERS 0 = all); ROUNDS: runs of each build per item (default 3), after one untimed run
# of NEW. Batch 1 (the stream: TOKENS, default 64, from the first position) and BATCH sequences
# (default 8) decoding BATCH_STEPS steps (default 16) after prompts of PROMPT tokens (default 16;
# 4000 measures decode over long contexts), device routing and CUDA graphs on, no prefill phase
# (PREFILL: its --prefill lengths, e.g. 4000; the figures are in each run's file). Items
# of one model in a row share its synthesized file. Prints each run's resident line and, last,
# the median tok/s of each build per item (tools/device/ab-resident-summary.py), which
# $OUT/ab-resident-summary.txt holds after every run.
# NEW_ARGS / OLD_ARGS: extra bench flags for that side's runs (e.g. OLD_ARGS="--kv-type f32" with
# the same bundle on both sides compares two settings of one build).
# TRACE=DIR (a build-trace folder from tools/device/kernel_trace/build.sh, carried): after the
# rounds, one kernel-level and one graph-level traced run of each build per item, summarized
# into $OUT/trace-ITEM-{new,old}.txt (kernel_trace/summarize.py; traces in the archive).
set -uo pipefail

old="${1:?usage: $0 OLD_BUNDLE NEW_BUNDLE}"
new="${2:?usage: $0 OLD_BUNDLE NEW_BUNDLE}"
# Each run's files go to a scratch folder and come back as one archive (the device tool returns
# a limited number of files); the summary lands in $OUT/ab-resident-summary.txt.
dest="${OUT:-/tmp/ab-resident-out}"
out="$(mktemp -d)"
# The synthesized models (up to 31 GB for qwen3) do not outlive the script.
trap 'rm -f /dev/shm/hobbit-ab-*.gguf' EXIT
mkdir -p "$dest"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
old="$(abs "$old")" new="$(abs "$new")"
libs="$new/libs"
[ -d "$old/libs" ] && old_libs="$old/libs" || old_libs="$libs"
summary() { python3 "$(dirname "$0")/ab-resident-summary.py" "$out" >"$dest/ab-resident-summary.txt"; }
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

for m in ${MODELS:-mixtral-8x7b:8:q8_0}; do
  IFS=: read -r preset layers type prompt batch <<<"$m"
  prompt="${prompt:-${PROMPT:-16}}" batch="${batch:-${BATCH:-8}}"
  path="/dev/shm/hobbit-ab-$preset-${layers}l-$type.gguf"
  if [ ! -f "$path" ]; then
    rm -f /dev/shm/hobbit-ab-*.gguf
    stamp "synthesizing $preset, $layers layers, $type"
    if ! LD_LIBRARY_PATH="$libs" timeout 300 "$new/bin/hobbit-tool" synth --preset "$preset" --layers "$layers" \
        --type "$type" --out "$path" >"$out/synth-$preset-$layers-$type.log" 2>&1; then
      echo "synthesis failed: $(tail -2 "$out/synth-$preset-$layers-$type.log")"
      rm -f "$path"
      continue
    fi
  fi
  item="$preset-${layers}l-$type"
  [ "$prompt" != 16 ] || [ "$batch" != 8 ] && item="$item-p${prompt}b$batch"
  # The first run after a synthesis was the slowest in the session that wrote this script: one
  # untimed run of NEW (not in the summary) first; then the order alternates per round.
  for r in warmup $(seq 1 "${ROUNDS:-3}"); do
    order="new old"
    [ "$r" = warmup ] && order="new"
    [ "$r" != warmup ] && [ $((r % 2)) -eq 0 ] && order="old new"
    for side in $order; do
      if [ "$side" = new ]; then
        bundle="$new" lib="$libs" extra="${NEW_ARGS:-}"
      else
        bundle="$old" lib="$old_libs" extra="${OLD_ARGS:-}"
      fi
      name="$item-$side-$r"
      [ "$r" = warmup ] && name="$item-warmup"
      # shellcheck disable=SC2086  # NEW_ARGS / OLD_ARGS: extra bench flags, split on spaces
      LD_LIBRARY_PATH="$lib" timeout 150 "$bundle/bin/hobbit-tool" bench --model "$path" --modes resident \
        --tokens "${TOKENS:-64}" --warmup 8 --batch "$batch" --batch-steps "${BATCH_STEPS:-16}" \
        --prompt-tokens "$prompt" --prefill "${PREFILL:-none}" --device-routing on --cuda-graphs on $extra \
        --json "$out/$name.json" >"$out/$name.txt" 2>&1
      stamp "exit $? $name: $(grep -E '^resident' "$out/$name.txt" | head -1)"
      summary  # after every run: a call cut short by its time limit still returns what it measured
    done
  done
  [ -n "${TRACE:-}" ] || continue
  trace_lib="$(abs "$TRACE")"
  # The summary reads the last 16 steps: the stream's (batch 1 from the first position), or for an
  # item with PROMPT:BATCH the batched phase's.
  trace_steps=(--tokens 40 --batch 0)
  [ "$item" != "$preset-${layers}l-$type" ] &&
    trace_steps=(--tokens 16 --batch "$batch" --batch-steps 24 --prompt-tokens "$prompt")
  for side in new old; do
    if [ "$side" = new ]; then bundle="$new" lib="$libs"; else bundle="$old" lib="$old_libs"; fi
    name="$item-$side"
    for level in kernels graphs; do
      graphs=0
      [ "$level" = graphs ] && graphs=1
      CUDA_INJECTION64_PATH="$trace_lib/libkernel_trace.so" LD_LIBRARY_PATH="$lib:$trace_lib" KERNEL_TRACE_GRAPHS=$graphs \
        KERNEL_TRACE_OUT="$out/trace-$name-$level.csv" timeout 150 "$bundle/bin/hobbit-tool" bench --model "$path" \
        --modes resident "${trace_steps[@]}" --warmup 8 --prefill none --device-routing on --cuda-graphs on \
        >"$out/trace-$name-$level.txt" 2>&1
      stamp "exit $? traced ($level) $name"
      python3 "$(dirname "$0")/kernel_trace/summarize.py" "$out/trace-$name-$level.csv" --order 12 \
        >>"$dest/trace-$name.txt" 2>&1
    done
  done
done
summary
cat "$dest/ab-resident-summary.txt"
tar czf "$dest/ab-resident-runs.tar.gz" -C "$out" .
rm -rf "$out"
