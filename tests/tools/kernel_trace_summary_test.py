#!/usr/bin/env python3
"""tools/device/kernel_trace/summarize.py on a made-up trace: steps split at device-to-host
copies, the span, idle gaps and each kernel's exposed time (overlapped kernels counted once),
runtime calls per step, and the errors for an empty trace or one without a step."""
import importlib.util
import os
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "device", "kernel_trace", "summarize.py")
spec = importlib.util.spec_from_file_location("kernel_trace_summarize", SCRIPT)
summarize = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summarize)

HEADER = "kind,name,start_ns,end_ns,bytes,graph_id,stream\n"


def step(t0):
    """One step from t0 (ns): upload, 2 us idle, kernels A (10 us), B (starts 4 us before A ends,
    ends 6 us after it: 6 us exposed), C after a 1 us gap (3 us), then the logits copy (5 us)."""
    return [
        ("memcpy", "HtoD", t0, t0 + 1000),
        ("kernel", "KernelA", t0 + 3000, t0 + 13000),
        ("kernel", "KernelB", t0 + 9000, t0 + 19000),
        ("kernel", "KernelC", t0 + 20000, t0 + 23000),
        ("memcpy", "DtoH", t0 + 23000, t0 + 28000),
        ("api", "cudaGraphLaunch_v10000", t0 + 500, t0 + 2500),
    ]


def write(dir_, records):
    path = os.path.join(dir_, "trace.csv")
    with open(path, "w") as f:
        f.write(HEADER)
        for kind, name, start, end in records:
            f.write("%s,%s,%d,%d,0,0,13\n" % (kind, name, start, end))
    return path


class KernelTraceSummaryTest(unittest.TestCase):
    def test_steps_and_exposed_times(self):
        with tempfile.TemporaryDirectory() as d:
            # A first copy ends the time before the steps; three steps 100 us apart, shuffled.
            records = [("memcpy", "DtoH", 0, 1000)]
            for k in range(3):
                records += step(100000 * (k + 1))
            path = write(d, list(reversed(records)))
            lines = summarize.report(path, n_steps=2, order=3)
        self.assertEqual(lines[0], "2 steps (of 3), medians in us:")
        # span 28 us; idle: 2 us before A and 1 us before C; exposed 10 + 6 + 3.
        self.assertEqual(lines[1], "  before 72.0  span 28.0 (35714.3 tok/s)  idle 3.0  kernels exposed 19.0 "
                                   "(run 23.0, 3 kernels)  HtoD 1.0  DtoH 5.0")
        self.assertIn("        1      10.0      10.0  KernelA", lines)
        self.assertIn("        1      10.0       6.0  KernelB", lines)
        self.assertIn("        1       3.0       3.0  KernelC", lines)
        self.assertIn("        1       2.0  cudaGraphLaunch_v10000", lines)
        self.assertIn("        3.0     10.0     10.0  KernelA", lines)  # the median step, in order

    def test_errors(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, "no records"):
                summarize.report(write(d, []))
            with self.assertRaisesRegex(ValueError, "no step"):
                summarize.report(write(d, [("kernel", "K", 0, 10), ("memcpy", "DtoH", 10, 20)]))


if __name__ == "__main__":
    unittest.main()
