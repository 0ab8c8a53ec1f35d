#!/usr/bin/env python3
"""Loss curves of a training run as loss-curves.svg and loss-curves.csv (no plotting library needed).

  python3 tools/train/plot_curves.py tools/train/results

reads every metrics-*.json in the folder: training cross-entropy (every 10 steps) and the
held-out cross-entropy on the small curve subset (every --eval-every steps), against tokens seen.
"""

import glob
import json
import os
import sys

W, H, PAD = 760, 420, 60
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
    runs = []
    for path in sorted(glob.glob(os.path.join(folder, "metrics-*.json"))):
        with open(path) as f:
            m = json.load(f)
        tr = m["train"]
        per_step = tr["batch"] * tr["seq_len"]
        runs.append((m["preset"], [(c["tokens"], c["train_ce"]) for c in tr["curve"]],
                     [(c["step"] * per_step, c["heldout_ce"]) for c in tr["heldout_curve"]]))
    if not runs:
        sys.exit(f"no metrics-*.json in {folder}")
    with open(os.path.join(folder, "loss-curves.csv"), "w") as f:
        f.write("preset,series,tokens,cross_entropy\n")
        for name, train, held in runs:
            for series, pts in (("train", train), ("heldout", held)):
                f.writelines(f"{name},{series},{t},{v}\n" for t, v in pts)
    xmax = max(p[0] for _, tr, _ in runs for p in tr)
    ys = [p[1] for _, tr, he in runs for p in tr + he]
    ymin, ymax = min(ys), min(max(ys), min(ys) + 6.0)

    def xy(t, v):
        v = min(v, ymax)
        return PAD + (W - 2 * PAD) * t / xmax, H - PAD - (H - 2 * PAD) * (v - ymin) / (ymax - ymin)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
           f'font-size="12"><rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="black"/>',
           f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="black"/>',
           f'<text x="{W / 2}" y="{H - 15}" text-anchor="middle">tokens seen (millions)</text>',
           f'<text x="15" y="{H / 2}" transform="rotate(-90 15 {H / 2})" text-anchor="middle">'
           f'cross-entropy (nats/token)</text>']
    for i in range(6):
        t = xmax * i / 5
        x, _ = xy(t, ymin)
        out.append(f'<text x="{x:.0f}" y="{H - PAD + 16}" text-anchor="middle">{t / 1e6:.0f}</text>')
        v = ymin + (ymax - ymin) * i / 5
        _, y = xy(0, v)
        out.append(f'<text x="{PAD - 6}" y="{y + 4:.0f}" text-anchor="end">{v:.2f}</text>')
    for k, (name, train, held) in enumerate(runs):
        c = COLORS[k % len(COLORS)]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in train))
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1" points="{pts}"/>')
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in held))
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" stroke-dasharray="6,3" points="{pts}"/>')
        out.append(f'<text x="{W - PAD - 200}" y="{PAD + 18 * k}" fill="{c}">{name}: train (thin), '
                   f'held-out (dashed)</text>')
    out.append("</svg>")
    with open(os.path.join(folder, "loss-curves.svg"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {folder}/loss-curves.svg and loss-curves.csv")


if __name__ == "__main__":
    main()
