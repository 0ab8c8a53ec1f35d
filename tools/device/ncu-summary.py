#!/usr/bin/env python3
"""Per-kernel times of one decode step from an Nsight Compute CSV, grouped by kind.

Made on the GPU machine by (tools/device/bench-h200.sh, BENCHES=ncu, does this):

  ncu --clock-control none --metrics gpu__time_duration.sum --csv --log-file ncu.csv \\
      hobbit-tool bench --model M.gguf --modes resident --tokens 6 --warmup 2 --batch 0 --prefill none

A decode step starts at the embedding lookup (GetRowsKernel); the last complete step is
summarized: every kernel in order, then the time per kind and per layer. Nsight replays each
kernel with cold caches, so small kernels read a little slow; compare kinds, not the total with
the step's wall time. Usage: ncu-summary.py ncu.csv [--layers N] [--all]
"""
import argparse
import csv
import re
import sys
from collections import OrderedDict


def kernel_rows(path):
    header = None
    rows = []
    with open(path, newline="") as f:
        for r in csv.reader(f):
            if r and r[0] == "ID":
                header = r
                continue
            if header and len(r) == len(header):
                d = dict(zip(header, r))
                if d.get("Metric Name") == "gpu__time_duration.sum":
                    rows.append(d)
    if header is None:
        sys.exit("%s: no Nsight Compute CSV header (was ncu run with --csv?)" % path)
    return rows


def short_name(kernel):
    name = re.sub(r"\(.*", "", kernel)
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"[a-z_:]*<unnamed>::", "", name)
    name = name.replace("cuda_internal::", "")
    return name


def kind(name):
    for key, label in (("GatherDot", "routed experts (gathered matvec)"), ("DotKernel", "matvec"),
                       ("QuantizeX", "activation quantization"), ("RmsNorm", "rmsnorm"), ("Rope", "rope"),
                       ("KvWrite", "kv write"), ("Attention", "attention"), ("Router", "router top-k"),
                       ("Combine", "expert combine"), ("SiluMul", "silu*up"), ("Add", "add"), ("Fill", "fill"),
                       ("GetRows", "embedding"), ("Gather", "gather rows")):
        if key in name:
            return label
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--layers", type=int, default=0, help="layers of the model, for the per-layer figure")
    ap.add_argument("--all", action="store_true", help="list every kernel of the step")
    a = ap.parse_args()
    rows = kernel_rows(a.csv)
    steps, current = [], None
    for d in rows:
        if "GetRowsKernel" in d["Kernel Name"]:
            current = []
            steps.append(current)
        if current is not None:
            current.append(d)
    if len(steps) < 2:
        sys.exit("%s: fewer than two decode steps found (look for GetRowsKernel)" % a.csv)
    step = steps[-2]  # the last one may be cut short
    by_kind = OrderedDict()
    total = 0.0
    for d in step:
        us = float(d["Metric Value"].replace(",", "")) / 1000.0
        total += us
        name = short_name(d["Kernel Name"])
        k = kind(name)
        n, t = by_kind.get(k, (0, 0.0))
        by_kind[k] = (n + 1, t + us)
        if a.all:
            print("%8.2f us  grid %-14s block %-12s %s" % (us, d["Grid Size"], d["Block Size"], name))
    print("%d kernels, %.1f us in one decode step (%d steps in the file)" % (len(step), total, len(steps)))
    print("%-34s %8s %10s %8s" % ("kind", "kernels", "us", "share"))
    for k, (n, t) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
        print("%-34s %8d %10.1f %7.1f%%" % (k, n, t, 100.0 * t / total))
    if a.layers > 0:
        print("per layer: %.1f us, %.1f kernels" % (total / a.layers, len(step) / a.layers))


if __name__ == "__main__":
    main()
