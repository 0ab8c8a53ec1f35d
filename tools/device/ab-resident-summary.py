#!/usr/bin/env python3
"""Median resident decode tok/s of each build per model from tools/device/ab-resident.sh's files.

Reads OUT/PRESET-NL-TYPE-{new,old}-R.txt (hobbit-tool bench's table: the `resident` row's batch 1
and batch tok/s columns) and prints, per model, each build's runs and medians and new/old.
"""
import collections
import pathlib
import re
import statistics
import sys


def main() -> int:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    runs = collections.defaultdict(lambda: {"new": [], "old": []})
    for f in sorted(out.glob("*.txt")):
        m = re.match(r"(.+)-(new|old)-(\d+)$", f.stem)
        if not m:
            continue
        for line in f.read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == "resident" and len(fields) >= 6:
                # mode budget slots b1_tok/s b1_ratio batch_t/s ...
                runs[m.group(1)][m.group(2)].append((float(fields[3]), float(fields[5])))
                break
    if not runs:
        print("no resident rows found under", out)
        return 1
    for model, sides in runs.items():
        print(model)
        med = {}
        for side in ("new", "old"):
            r = sides[side]
            if not r:
                print(f"  {side}: no runs")
                continue
            med[side] = (statistics.median(x[0] for x in r), statistics.median(x[1] for x in r))
            print(f"  {side}: batch 1 " + ", ".join(f"{x[0]:.1f}" for x in r) +
                  f" (median {med[side][0]:.1f}); batch " + ", ".join(f"{x[1]:.1f}" for x in r) +
                  f" (median {med[side][1]:.1f}) tok/s")
        if len(med) == 2:
            print(f"  new/old: batch 1 {med['new'][0] / med['old'][0]:.3f}, batch {med['new'][1] / med['old'][1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
