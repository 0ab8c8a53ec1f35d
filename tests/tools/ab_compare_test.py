#!/usr/bin/env python3
"""tools/device/ab-compare.py on made-up cuda-kernel-bench files: medians per side, differences,
shapes only one side measured left out, routing rows, and the usage error."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "device", "ab-compare.py")
spec = importlib.util.spec_from_file_location("ab_compare", SCRIPT)
ab_compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ab_compare)


def bench(dir_, name, q8_fractions, routing=None):
    doc = {"device": "test", "copy_gbps": 4000.0,
           "matvec": [{"type": "Q8_0", "rows": 14336, "cols": 4096, "n_tokens": 1, "us": 1.0, "gbps": 1.0,
                       "fraction_of_copy": f} for f in q8_fractions]}
    if routing is not None:
        doc["routing"] = [{"dim": 4096, "n_expert": 8, "k": 2, "separate_us": routing[0], "fused_us": routing[1]}]
    path = os.path.join(dir_, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


class AbCompareTest(unittest.TestCase):
    def test_medians_and_differences(self):
        with tempfile.TemporaryDirectory() as d:
            new = [bench(d, "n1.json", [0.80], (8.0, 7.0)), bench(d, "n2.json", [0.82], (9.0, 8.0)),
                   bench(d, "n3.json", [0.90], (10.0, 9.0))]
            old = [bench(d, "o1.json", [0.75]), bench(d, "o2.json", [0.77])]
            lines = ab_compare.compare(new, old)
        self.assertEqual(len(lines), 2)  # header + Q8_0: routing was measured by one side only
        fields = lines[1].split()
        self.assertEqual(fields[:3], ["Q8_0", "14336x4096,", "1"])
        self.assertEqual(fields[-3:], ["82.00", "76.00", "+6.00"])  # medians 82 and 76

    def test_routing_rows(self):
        with tempfile.TemporaryDirectory() as d:
            lines = ab_compare.compare([bench(d, "n.json", [0.5], (8.4, 7.9))], [bench(d, "o.json", [0.5], (8.4, 9.0))])
        fused = [l for l in lines if l.startswith("routing fused")]
        self.assertEqual(len(fused), 1)
        self.assertTrue(fused[0].endswith("-1.10"), fused[0])

    def test_usage(self):
        run = subprocess.run([sys.executable, SCRIPT, "only.json"], capture_output=True, text=True)
        self.assertEqual(run.returncode, 2)
        self.assertIn("NEW.json", run.stderr)


if __name__ == "__main__":
    unittest.main()
