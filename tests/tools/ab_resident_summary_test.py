#!/usr/bin/env python3
"""tools/device/ab-resident-summary.py on made-up hobbit-tool bench tables: medians per build and
model, the new/old ratio, a build without runs (a failed mode's row included), files that are not
runs, and the usage error."""
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "device", "ab-resident-summary.py")
spec = importlib.util.spec_from_file_location("ab_resident_summary", SCRIPT)
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)

HEADER = "mode             budget   slots h/l  b1 tok/s  b1 ratio  batch t/s  bat ratio\n"


def run_file(dir_, name, b1, batch):
    with open(os.path.join(dir_, name), "w") as f:
        f.write("speed:\n" + HEADER + f"resident         -                -    {b1:.2f}      1.00     {batch:.2f}       1.00\n")


class AbResidentSummaryTest(unittest.TestCase):
    def test_medians_and_ratio(self):
        with tempfile.TemporaryDirectory() as d:
            for r, (b1, batch) in enumerate([(100.0, 200.0), (104.0, 190.0), (90.0, 210.0)], 1):
                run_file(d, f"mixtral-8x7b-8l-q8_0-new-{r}.txt", b1, batch)
            for r, (b1, batch) in enumerate([(80.0, 200.0), (82.0, 200.0)], 1):
                run_file(d, f"mixtral-8x7b-8l-q8_0-old-{r}.txt", b1, batch)
            with open(os.path.join(d, "synth-mixtral-8x7b-8-q8_0.log"), "w") as f:
                f.write("resident 1 2 3 4 5\n")  # not a run file: ignored
            lines = summary.summarize(d)
        self.assertEqual(lines[0], "mixtral-8x7b-8l-q8_0")
        self.assertIn("(median 100.0)", lines[1])  # new: 90, 100, 104
        self.assertIn("(median 200.0) tok/s", lines[1])
        self.assertIn("(median 81.0)", lines[2])  # old: 80, 82
        self.assertEqual(lines[3], "  new/old: batch 1 1.235, batch 1.000")

    def test_a_build_without_runs(self):
        with tempfile.TemporaryDirectory() as d:
            run_file(d, "qwen3-30b-a3b-0l-q8_0-new-1.txt", 340.0, 370.0)
            with open(os.path.join(d, "qwen3-30b-a3b-0l-q8_0-old-1.txt"), "w") as f:
                f.write("error: the model could not be loaded\n")
            with open(os.path.join(d, "qwen3-30b-a3b-0l-q8_0-old-2.txt"), "w") as f:
                f.write(HEADER + "resident         -        failed: out of device memory (expert slots)\n")
            lines = summary.summarize(d)
        self.assertEqual(lines, ["qwen3-30b-a3b-0l-q8_0",
                                 "  new: batch 1 340.0 (median 340.0); batch 370.0 (median 370.0) tok/s",
                                 "  old: no runs"])

    def test_usage_and_empty(self):
        run = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True)
        self.assertEqual(run.returncode, 2)
        self.assertIn("usage", run.stderr)
        with tempfile.TemporaryDirectory() as d:
            run = subprocess.run([sys.executable, SCRIPT, d], capture_output=True, text=True)
        self.assertEqual(run.returncode, 1)
        self.assertIn("no resident rows", run.stdout)


if __name__ == "__main__":
    unittest.main()
