#!/usr/bin/env python3
"""Per-step timeline figures from a kernel_trace CSV (tools/device/kernel_trace/kernel_trace.cc).

A decode step ends with the copy of its logits to the host, its only device-to-host copy when
the step is recorded (device routing); step k holds the GPU work after step k-1's copy, up to and
including its own. (A host-routed step also copies the router's choice back every layer: each
copy then ends a "step", so trace recorded decode runs.) For the last --steps steps it
prints the medians of:
  before     from the previous step's last copy to this step's first GPU work (its upload): the
             host's work between steps (sampling; `hobbit-tool bench` also scores quality there,
             untimed)
  span       from the step's first GPU work to its last copy's end (1 / span: tokens/s at batch
             1, less the host's time before the upload)
  idle       gaps in the span: the GPU waiting (for the graph launch after the upload, say)
  exposed    per kernel, the part of its run not overlapped by the kernels before it (with
             programmatic dependent launch a kernel starts before its predecessor ends); the
             exposed times, idle gaps and copies add up to the span
then the same per kernel name, and the median step's kernels in order.

CUPTI's records cost time: a traced run is slower than an untraced one (~10 % on the H200 for
the 8-layer mixtral shape). Compare kernels within a trace, not a traced run's total with an
untraced one.

With a graph-level trace (KERNEL_TRACE_GRAPHS=1) a replayed graph counts as one kernel named
"graph", and the host's runtime calls are listed per step (cudaGraphLaunch, the copies, the
synchronization), from the previous step's last copy on.

Usage: summarize.py trace.csv [--steps 16] [--order N]  (--order: kernels listed, default 40)
"""
import argparse
import csv
import re
import shutil
import statistics
import subprocess
import sys


def demangle(names):
    if not shutil.which("c++filt"):
        return {n: n for n in names}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.split("\n")
    return dict(zip(names, out))


def short(name):
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"hobbit::kernels::|cuda_internal::|\(anonymous namespace\)::", "", name)
    name = re.sub(r"\([^()]*\)$", "", name)  # the parameters (none of them has parentheses)
    return name.replace(" >", ">")


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            r["start"] = int(r["start_ns"])
            r["end"] = int(r["end_ns"])
            rows.append(r)
    if not rows:
        raise ValueError("%s: no records" % path)
    names = demangle(sorted({r["name"] for r in rows if r["kind"] == "kernel"}))
    for r in rows:
        if r["kind"] == "kernel":
            r["name"] = short(names.get(r["name"], r["name"]))
    rows.sort(key=lambda r: r["start"])
    return [r for r in rows if r["kind"] != "api"], [r for r in rows if r["kind"] == "api"]


def steps(rows):
    """[(previous end, records of the step)] split at device-to-host copies."""
    out, cur, prev_end = [], [], None
    for r in rows:
        cur.append(r)
        if r["kind"] == "memcpy" and r["name"] == "DtoH":
            if prev_end is not None:
                out.append((prev_end, cur))
            prev_end, cur = r["end"], []
    return out


def figures(prev_end, recs):
    first = min(r["start"] for r in recs)
    span = max(r["end"] for r in recs) - first
    frontier, idle = first, 0
    exposed = []
    copies = {"HtoD": 0, "DtoH": 0}
    for r in recs:
        if r["start"] > frontier:
            idle += r["start"] - frontier
        e = max(0, r["end"] - max(r["start"], frontier))
        frontier = max(frontier, r["end"])
        if r["kind"] in ("kernel", "graph"):
            exposed.append((r["name"], r["end"] - r["start"], e, r["start"] - first))
        else:
            copies[r["name"]] = copies.get(r["name"], 0) + e
    return {"span": span, "before": first - prev_end, "idle": idle, "kernels": exposed, "copies": copies}


def report(path, n_steps=16, order=40):
    """The summary's lines."""
    gpu, api = load(path)
    all_steps = steps(gpu)
    if not all_steps:
        raise ValueError("%s: no step (no device-to-host copy after the first)" % path)
    picked = [figures(p, recs) for p, recs in all_steps[-n_steps:]]
    # Runtime calls (graph-level traces): each step's calls from the previous step's last copy on.
    windows = [(p, max(r["end"] for r in recs)) for p, recs in all_steps[-n_steps:]]
    calls = {}
    for i, (lo, hi) in enumerate(windows):
        for r in api:
            if lo < r["start"] <= hi:
                c = calls.setdefault(r["name"], [[0, 0] for _ in windows])[i]
                c[0] += 1
                c[1] += r["end"] - r["start"]
    us = lambda ns: ns / 1000.0
    med = statistics.median
    lines = ["%d steps (of %d), medians in us:" % (len(picked), len(all_steps))]
    span = med([f["span"] for f in picked])
    lines.append("  before %.1f  span %.1f (%.1f tok/s)  idle %.1f  kernels exposed %.1f (run %.1f, %d kernels)"
                 "  HtoD %.1f  DtoH %.1f" % (
                     us(med([f["before"] for f in picked])), us(span), 1e9 / span,
                     us(med([f["idle"] for f in picked])),
                     us(med([sum(k[2] for k in f["kernels"]) for f in picked])),
                     us(med([sum(k[1] for k in f["kernels"]) for f in picked])),
                     med([len(f["kernels"]) for f in picked]),
                     us(med([f["copies"].get("HtoD", 0) for f in picked])),
                     us(med([f["copies"].get("DtoH", 0) for f in picked]))))
    by = {}
    for f in picked:
        per = {}
        for name, run, exp, _ in f["kernels"]:
            c = per.setdefault(name, [0, 0, 0])
            c[0] += 1
            c[1] += run
            c[2] += exp
        for name, c in per.items():
            by.setdefault(name, []).append(c)
    lines += ["", "per kernel, a step's count and summed time (us, medians over steps):",
              "  %7s %9s %9s  %s" % ("count", "run", "exposed", "kernel")]
    for name, cs in sorted(by.items(), key=lambda kv: -med([c[2] for c in kv[1]])):
        lines.append("  %7d %9.1f %9.1f  %s" % (med([c[0] for c in cs]), us(med([c[1] for c in cs])),
                                                 us(med([c[2] for c in cs])), name[:110]))
    if calls:
        lines += ["", "runtime calls on the host, a step's count and summed time (us, medians over steps):"]
        for name, cs in sorted(calls.items(), key=lambda kv: -med([c[1] for c in kv[1]])):
            lines.append("  %7d %9.1f  %s" % (med([c[0] for c in cs]), us(med([c[1] for c in cs])), name))
    spans = [f["span"] for f in picked]
    m = picked[sorted(range(len(picked)), key=lambda i: spans[i])[len(picked) // 2]]
    lines += ["", "the median step's first %d kernels (start: us from the step's first GPU work):" % order,
              "  %9s %8s %8s  %s" % ("start", "run", "exposed", "kernel")]
    for name, run, exp, start in m["kernels"][:order]:
        lines.append("  %9.1f %8.1f %8.1f  %s" % (us(start), us(run), us(exp), name[:110]))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--order", type=int, default=40)
    a = ap.parse_args()
    if a.steps < 1 or a.order < 0:
        ap.error("--steps must be at least 1 and --order at least 0")
    try:
        print("\n".join(report(a.trace, a.steps, a.order)))
    except (OSError, ValueError) as e:
        sys.exit(str(e))


if __name__ == "__main__":
    main()
