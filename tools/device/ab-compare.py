#!/usr/bin/env python3
"""Compares cuda-kernel-bench JSON files of two builds run on the same GPU machine in one call.

  ab-compare.py NEW.json [NEW.json ...] -- OLD.json [OLD.json ...]

Each side may hold several runs (alternated with the other side's, so clock and thermal drift
fall on both); for every matvec shape (type, rows, cols, tokens) and every routing shape it prints
the median of each side and the difference. Machine starts differ by a few percent, so only runs
of one call compare; tools/device/ab-kernel-bench.sh builds both sides and prints that call.
"""
import json
import statistics
import sys


def load(paths):
    """{key: [values]} over every run: matvec fraction of the copy bandwidth, routing us."""
    runs = {}
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        for r in doc.get("matvec", []):
            key = ("matvec", r["type"], r["rows"], r["cols"], r["n_tokens"])
            runs.setdefault(key, []).append(100.0 * r["fraction_of_copy"])
        for r in doc.get("routing", []):
            for part in ("separate_us", "fused_us"):
                key = ("routing", part, r["dim"], r["n_expert"], r["k"])
                runs.setdefault(key, []).append(r[part])
    return runs


def compare(new_paths, old_paths):
    """The table's lines: shapes both sides measured, in the new side's order."""
    new, old = load(new_paths), load(old_paths)
    lines = ["%-34s %10s %10s %9s" % ("shape", "new", "old", "new-old")]
    for key, values in new.items():
        if key not in old:
            continue
        a, b = statistics.median(values), statistics.median(old[key])
        if key[0] == "matvec":
            name = "%s %dx%d, %d tok (%% of copy)" % key[1:]
        else:
            name = "routing %s, %d wide, %d experts, k %d" % (key[1].replace("_us", ""), *key[2:])
        lines.append("%-34s %10.2f %10.2f %+9.2f" % (name, a, b, a - b))
    return lines


def main(argv):
    if "--" not in argv or argv.index("--") in (0, len(argv) - 1):
        sys.stderr.write(__doc__)
        return 2
    i = argv.index("--")
    print("\n".join(compare(argv[:i], argv[i + 1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
