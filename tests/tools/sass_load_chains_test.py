#!/usr/bin/env python3
"""tools/device/sass_load_chains.py on made-up SASS listings (loads each used before the next is
issued are reported as a run; loads issued together, a value overwritten before any use, runs
shorter than --min-run and a loop's single load are not; a store and a 64-bit operand count as
uses; the filters; the usage errors) and on the committed excerpts of decode attention's key loop
before and after its keys were loaded together."""
import contextlib
import importlib.util
import io
import os
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
spec = importlib.util.spec_from_file_location("sass_load_chains",
                                              os.path.join(ROOT, "tools", "device", "sass_load_chains.py"))
chains = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chains)


def listing(name, texts):
    """A cuobjdump-like function of the instructions `texts` ('OPCODE operands'), 16 bytes apart."""
    out = ["", "\tFunction : %s" % name, "\t.headerflags\t@\"EF_CUDA_SM90\""]
    for i, text in enumerate(texts):
        out.append("        /*%04x*/                   %s ;  /* 0x0000000000000000 */" % (0x10 * (i + 1), text))
    return "\n".join(out) + "\n"


def waited_loads(n):
    """n 128-bit loads, each read by an FFMA before the next is issued."""
    code = []
    for k in range(n):
        code += ["LDG.E.128.CONSTANT R%d, desc[UR4][R2.64]" % (8 + 4 * k),
                 "FFMA R40, R%d, R44, R40" % (9 + 4 * k)]
    return code + ["EXIT"]


def loads_together(n):
    """The same loads, all issued before the first FFMA."""
    code = ["LDG.E.128.CONSTANT R%d, desc[UR4][R2.64]" % (8 + 4 * k) for k in range(n)]
    code += ["FFMA R40, R%d, R44, R40" % (8 + 4 * k) for k in range(n)]
    return code + ["EXIT"]


class SassLoadChainsTest(unittest.TestCase):
    def run_check(self, text, *flags):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "k.sass")
            with open(path, "w") as f:
                f.write(text)
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                rc = chains.main([path, *flags])
            return rc, out.getvalue()

    def test_reports_loads_each_used_before_the_next(self):
        rc, out = self.run_check(listing("Keys", waited_loads(8)))
        self.assertEqual(rc, 1, out)
        self.assertIn("8 loads at 0x0010..0x00f0, each used before the next is issued", out)
        self.assertIn("1 kernels checked, 1 reported", out)

    def test_passes_loads_issued_together(self):
        rc, out = self.run_check(listing("Keys", loads_together(8)))
        self.assertEqual(rc, 0, out)
        self.assertIn("1 kernels checked, 0 reported", out)

    def test_min_run_and_a_single_load(self):
        self.assertEqual(self.run_check(listing("Three", waited_loads(3)))[0], 0)
        rc, out = self.run_check(listing("Three", waited_loads(3)), "--min-run", "3")
        self.assertEqual(rc, 1)
        self.assertIn("3 loads at", out)
        # A loop's body holds one load and its use: read once in address order, never a run.
        loop = ["LDG.E R8, desc[UR4][R2.64]", "FADD R10, R10, R8", "@P0 BRA 0x10", "EXIT"]
        self.assertEqual(self.run_check(listing("Loop", loop), "--min-run", "2")[0], 0)

    def test_a_value_overwritten_before_any_use_ends_nothing(self):
        code = []
        for k in range(4):
            code += ["LDG.E R8, desc[UR4][R2.64]", "MOV R8, RZ", "FADD R10, R10, R8"]
        self.assertEqual(self.run_check(listing("Overwritten", code + ["EXIT"]))[0], 0)

    def test_stores_and_64_bit_operands_are_uses(self):
        stores = []
        for k in range(4):
            stores += ["LDG.E R%d, desc[UR4][R2.64]" % (8 + k), "STG.E desc[UR4][R4.64], R%d" % (8 + k)]
        self.assertEqual(self.run_check(listing("Stores", stores + ["EXIT"]))[0], 1)
        # A pointer chase: each 64-bit load's value is the next load's address.
        chase = ["LDG.E.64 R8, desc[UR4][R2.64]"]
        for k in range(1, 5):
            chase.append("LDG.E.64 R%d, desc[UR4][R%d.64]" % (8 + 2 * k, 6 + 2 * k))
        chase.append("STG.E.64 desc[UR4][R4.64], R16")
        rc, out = self.run_check(listing("Pointers", chase + ["EXIT"]))
        self.assertEqual(rc, 1, out)
        self.assertIn("5 loads at 0x0010..0x0050", out)

    def test_kernel_filter(self):
        text = listing("Keys", waited_loads(8)) + listing("Values", waited_loads(8))
        rc, out = self.run_check(text, "--kernel", "Val")
        self.assertEqual((rc, "Values" in out, "Keys" in out), (1, True, False))
        self.assertIn("1 kernels checked, 1 reported", out)

    def test_usage_errors(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(chains.main(["/nonexistent/k.sass"]), 2)
        self.assertIn("cannot read /nonexistent/k.sass", err.getvalue())
        self.assertEqual(self.run_check("not a listing\n")[0], 2)
        self.assertEqual(self.run_check(listing("Keys", waited_loads(8)), "--min-run", "1")[0], 2)

    def test_the_committed_attention_excerpts(self):
        results = os.path.join(ROOT, "bench", "results")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = chains.main([os.path.join(results, "sass-attention-key-loads-serialized-e71ad68-2026-11-29k.txt")])
        self.assertEqual(rc, 1)
        self.assertIn("8 loads at 0x22f0..0x2ff0", out.getvalue())
        with contextlib.redirect_stdout(io.StringIO()):
            rc = chains.main([os.path.join(results, "sass-attention-key-loads-together-20c52fb-2026-11-29k.txt")])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
