#!/usr/bin/env bash
# The whole training run as one command on the GPU machine (tools/train/run-on-device.md).
#
#   tools/train/device_job.sh CONVERTER_DIR
#
# 1. prepare: corpus from this machine's installed Python sources + tokenizer (once);
# 2. train the demo and the eval preset at the same time on the one GPU (two
#    processes: the small models leave the GPU idle between kernel launches, so
#    sharing it costs each little); each calibrates its step count to end
#    training DEMO_END / EVAL_END seconds after this script started, then
#    evaluates on the held-out files, exports to GGUF and checks the GGUF;
# 3. copy at most 8 files to $OUT (the device tool's limit).
# Each trainer is killed at KILL_AT seconds so that whatever finished comes back.
# PRESETS (default "demo eval"), PREPARE_ARGS and TRAIN_ARGS (extra flags) exist for a
# small local dry run: PRESETS=toy.
set -uo pipefail

conv="${1:?usage: device_job.sh CONVERTER_DIR}"
out="${OUT:-/tmp/hobbit-train-out}"
work="${HOBBIT_TRAIN_WORK:-/tmp/hobbit-train}"
demo_end="${DEMO_END:-330}"
eval_end="${EVAL_END:-430}"
kill_at="${KILL_AT:-575}"
start=$(date +%s)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
mkdir -p "$work" "$out"

{
  echo "git: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  python3 -c 'import torch, transformers, tokenizers, numpy; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "numpy", numpy.__version__)'
  python3 tools/train/train_moe.py prepare --data "$work/data" ${PREPARE_ARGS:-}
} 2>&1 | tee "$out/log-prepare.txt"

elapsed=$(( $(date +%s) - start ))
echo "prepare took ${elapsed}s" | tee -a "$out/log-prepare.txt"
pids=()
for preset in ${PRESETS:-demo eval}; do
  end_var="${preset}_end"
  secs=$(( ${!end_var:-$eval_end} - elapsed ))
  timeout $(( kill_at - elapsed )) python3 tools/train/train_moe.py train --preset "$preset" \
    --data "$work/data" --out "$work/$preset" --train-seconds "$secs" --converter-dir "$conv" \
    ${TRAIN_ARGS:-} > "$out/log-$preset.txt" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

cp "$work/data/tokenizer.json" "$work/data/recipe.json" "$out/" 2>/dev/null
for preset in ${PRESETS:-demo eval}; do
  cp "$work/$preset/metrics-$preset.json" "$out/" 2>/dev/null
  gguf="$work/$preset/hobbit-$preset-q8_0.gguf"
  # Only files up to 16 MiB come back; the eval model's GGUF stays on the machine.
  if [ -f "$gguf" ] && [ "$(stat -c %s "$gguf")" -le $((16 * 1024 * 1024)) ]; then cp "$gguf" "$out/"; fi
  grep -h "held-out:\|ms/step\|trained \|gguf:\|check\|failed" "$out/log-$preset.txt"
done
echo "=== total $(( $(date +%s) - start ))s, trainer status $status"
ls -l "$out"
exit $status
