#!/usr/bin/env bash
# Runs ON the GPU machine, in one device call (the evaluation model's GGUF, ~95 MB, cannot come
# back from it): regenerates the evaluation model (preset eval, the recorded step count and seed)
# and measures hobbit on it with `hobbit-tool bench` — per mode: perplexity, top-1 agreement and
# KL against resident on held-out text, hit rates, decision split and prefetch outcomes at GPU
# expert budgets of 0.25 and 0.5, with int4 and int2 low copies; and the eviction-weight tuning.
#
# Here first (no device time):
#   tools/train/stage_converter.sh                       # -> build-train/converter
#   tools/device/bundle.sh build-eval hobbit-tool        # -> build-eval (hobbit-tool + libs)
# Then:
#   run(command="tools/train/eval_job.sh build-eval build-train/converter",
#       carry=["build-eval", "build-train/converter"], timeout_s=600)
# Files under $OUT: metrics-eval.json (training metrics, routing statistics incl. the stacked-gate
# predictor), bench-eval-int4.json / -int2.json, their tables, and the logs.
set -uo pipefail

bundle="${1:?usage: $0 BUNDLE_DIR CONVERTER_DIR}"
converter="${2:?usage: $0 BUNDLE_DIR CONVERTER_DIR}"
out="${OUT:-/tmp/hobbit-eval-out}"
work="${HOBBIT_WORK:-/tmp/hobbit-eval}"
steps="${STEPS:-1495}"          # the step count of the recorded run (results/metrics-eval.json)
tokens="${BENCH_TOKENS:-496}"   # teacher-forced tokens; the model's context is 512
mkdir -p "$out" "$work"
export LD_LIBRARY_PATH="$PWD/$bundle/libs"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }

# Canary (seconds): the bench on the demo model, in memory-backed and in disk-backed folders; a
# run that hangs leaves its threads' stacks in $OUT.
canary() {
  "$bundle/bin/hobbit-tool" bench --model "$1" --tokens 48 --warmup 4 --batch 0 --prefill none \
    --modes resident,ondemand-lru,hobbit --budgets 0.25 >"$out/canary-$2.txt" 2>&1 &
  local pid=$!
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "canary $2: still running after 20 s"
    (command -v gdb >/dev/null && gdb -p "$pid" -batch -ex "thread apply all bt" >"$out/stack-$2.txt" 2>&1) ||
      for t in /proc/"$pid"/task/*; do echo "$t $(cat "$t/wchan" 2>/dev/null)"; cat "$t/stack" 2>/dev/null; done >"$out/stack-$2.txt"
    kill -9 "$pid"
  else
    wait "$pid"; echo "canary $2: exit $?"; grep -E "tok/s at batch 1|warning" "$out/canary-$2.txt" | head -4
  fi
}
mkdir -p /dev/shm/hobbit-canary "$work/canary"
cp config/models/hobbit-demo-q8_0.gguf /dev/shm/hobbit-canary/demo.gguf
cp config/models/hobbit-demo-q8_0.gguf "$work/canary/demo.gguf"
canary /dev/shm/hobbit-canary/demo.gguf shm
canary "$work/canary/demo.gguf" disk

stamp "prepare"
python3 tools/train/train_moe.py prepare --data "$work/data" >"$out/log-prepare.txt" 2>&1 \
  || { tail -20 "$out/log-prepare.txt"; exit 1; }
stamp "train eval ($steps steps)"
python3 tools/train/train_moe.py train --preset eval --data "$work/data" --out "$work/eval" --steps "$steps" \
  --converter-dir "$converter" >"$out/log-eval.txt" 2>&1 || { tail -30 "$out/log-eval.txt"; exit 1; }
cp "$work/eval/metrics-eval.json" "$out/"
gguf="$(find "$work/eval" -name '*.gguf' | head -1)"
stamp "model: $gguf ($(du -h "$gguf" | cut -f1))"
# Served from memory-backed storage, as the mixtral benchmark's synthesized models are.
mkdir -p /dev/shm/hobbit-eval && cp "$gguf" /dev/shm/hobbit-eval/ && gguf="/dev/shm/hobbit-eval/$(basename "$gguf")"

# Held-out text: the held-out split's tokens decoded back to text (hobbit tokenizes it itself).
python3 - "$work/data" "$work/heldout.txt" <<'PY'
import sys, numpy as np
from tokenizers import Tokenizer
data, dst = sys.argv[1], sys.argv[2]
ids = np.fromfile(f"{data}/heldout.bin", dtype=np.uint16)[:20000].tolist()
tok = Tokenizer.from_file(f"{data}/tokenizer.json")
open(dst, "w").write(tok.decode(ids, skip_special_tokens=True))
PY

for fmt in int4 int2; do
  extra=()
  [ "$fmt" = int4 ] && extra=(--tune)
  stamp "bench $fmt"
  timeout "${BENCH_LIMIT:-150}" "$bundle/bin/hobbit-tool" bench --model "$gguf" --text "$work/heldout.txt" --tokens "$tokens" \
    --modes resident,ondemand-lru,static-low,hobbit --budgets 0.25,0.5 --low-format "$fmt" \
    --thresholds 0.6,0.9/0.4,0.7 --batch 8 --batch-steps 8 --prefill 128 \
    --json "$out/bench-eval-$fmt.json" "${extra[@]}" >"$out/bench-eval-$fmt.txt" 2>"$out/bench-eval-$fmt.log"
  echo "exit $?"; tail -25 "$out/bench-eval-$fmt.txt"
done
stamp "done"
