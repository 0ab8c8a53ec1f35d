#!/usr/bin/env python3
"""Median resident decode tok/s of each build per model from tools/device/ab-resident.sh's files.

Reads DIR/PRESET-NL-TYPE-{new,old}-R.txt (hobbit-tool bench's table: the `resident` row's batch 1
and batch tok/s columns) and prints, per model, each build's runs and medians and new/old.

    ab-resident-summary.py DIR
"""
import collections
import pathlib
import re
import statistics
import sys


def read_runs(out):
    """{model: {"new": [(b1, batch)], "old": [...]}} from the run files under out."""
    runs = collections.defaultdict(lambda: {"new": [], "old": []})
    for f in sorted(pathlib.Path(out).glob("*.txt")):
        m = re.match(r"(.+)-(new|old)-(\d+)$", f.stem)
        if not m:
            continue
        for line in f.read_text().splitlines():
            fields = line.split()
            # mode budget slots b1_tok/s b1_ratio batch_t/s ...; a failed mode reads
            # "resident - failed: <error>" and counts as no run.
            if fields and fields[0] == "resident" and len(fields) >= 6:
                try:
                    runs[m.group(1)][m.group(2)].append((float(fields[3]), float(fields[5])))
                except ValueError:
                    pass
                break
    return runs


def summarize(out):
    """The summary's lines (empty when no run file has a resident row)."""
    lines = []
    for model, sides in sorted(read_runs(out).items()):
        lines.append(model)
        med = {}
        for side in ("new", "old"):
            r = sides[side]
            if not r:
                lines.append(f"  {side}: no runs")
                continue
            med[side] = (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r))
            lines.append(f"  {side}: batch 1 " + ", ".join(f"{x[0]:.1f}" for x in r) +
                         f" (median {med[side][0]:.1f}); batch " + ", ".join(f"{x[1]:.1f}" for x in r) +
                         f" (median {med[side][1]:.1f}) tok/s")
        if len(med) == 2:
            lines.append(f"  new/old: batch 1 {med['new'][0] / med['old'][0]:.3f}, "
                         f"batch {med['new'][1] / med['old'][1]:.3f}")
    return lines


def main(argv):
    if len(argv) != 2:
        print("usage: ab-resident-summary.py DIR", file=sys.stderr)
        return 2
    lines = summarize(argv[1])
    if not lines:
        print("no resident rows found under", argv[1])
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
