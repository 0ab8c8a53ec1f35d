#!/usr/bin/env python3
"""tools/device/sass_wait_check.py on made-up SASS listings (a wide load above a skippable wait is
reported; one below it, one before an unconditional wait or in an earlier block is not; the
filters; the usage errors) and on the committed excerpt of the down product whose activation loads
ptxas moved above its wait (bench/results/sass-down-prefetch-hoisted-loads-h200-2026-11-29i.txt)."""
import contextlib
import importlib.util
import io
import os
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
spec = importlib.util.spec_from_file_location("sass_wait_check",
                                              os.path.join(ROOT, "tools", "device", "sass_wait_check.py"))
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def listing(name, lines):
    """A cuobjdump-like function: lines are (address, text) with text as 'OPCODE operands'."""
    out = ["", "\tFunction : %s" % name, "\t.headerflags\t@\"EF_CUDA_SM90\""]
    for address, text in lines:
        out.append("        /*%04x*/                   %s ;  /* 0x0000000000000000 */" % (address, text))
    return "\n".join(out) + "\n"


# Weights, then the activations moved above the branch that skips the wait.
HOISTED = [(0x10, "LDG.E.CONSTANT R2, desc[UR4][R4.64]"), (0x20, "LDG.E.128.CONSTANT R8, desc[UR4][R12.64]"),
           (0x30, "IDP.4A.S8.S8 R16, R2, R8, RZ"), (0x40, "@P0 BRA 0x60"), (0x50, "ACQBULK"),
           (0x60, "FFMA R1, R16, R17, R1"), (0x70, "EXIT")]
# The same with the activations below the wait.
KEPT = [(0x10, "LDG.E.CONSTANT R2, desc[UR4][R4.64]"), (0x20, "@P0 BRA 0x40"), (0x30, "ACQBULK"),
        (0x40, "LDG.E.128.CONSTANT R8, desc[UR4][R12.64]"), (0x50, "EXIT")]
# A wide load, then an unconditional wait at the top of the kernel (every path passes it).
UNCONDITIONAL = [(0x10, "LDG.E.128.CONSTANT R8, desc[UR4][R12.64]"), (0x20, "ACQBULK"), (0x30, "EXIT")]
# A predicated wait, with the activations above it in its own block.
PREDICATED = [(0x10, "LDG.E.CONSTANT R2, desc[UR4][R4.64]"), (0x20, "LDG.E.128.CONSTANT R8, desc[UR4][R12.64]"),
              (0x30, "@!P0 ACQBULK"), (0x40, "EXIT")]
# The wide load is in an earlier block: 0x20, a loop's head (the target of the branch at 0x50),
# starts the block that decides the wait.
EARLIER_BLOCK = [(0x10, "LDG.E.128.CONSTANT R8, desc[UR4][R12.64]"), (0x20, "LDG.E.CONSTANT R2, desc[UR4][R4.64]"),
                 (0x30, "@P0 BRA 0x50"), (0x40, "ACQBULK"), (0x50, "@P1 BRA 0x20"), (0x60, "EXIT")]


class SassWaitCheckTest(unittest.TestCase):
    def run_check(self, text, *flags):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "k.sass")
            with open(path, "w") as f:
                f.write(text)
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                rc = check.main([path, *flags])
            return rc, out.getvalue()

    def test_reports_a_wide_load_above_a_skippable_wait(self):
        rc, out = self.run_check(listing("DownHoisted", HOISTED))
        self.assertEqual(rc, 1)
        self.assertIn("LDG.E.128.CONSTANT at 0x0020, in the block that skips the wait at 0x0050", out)
        self.assertIn("1 kernels with a wait checked, 1 reported", out)

    def test_reports_a_wide_load_above_a_predicated_wait(self):
        rc, out = self.run_check(listing("Predicated", PREDICATED))
        self.assertEqual(rc, 1)
        self.assertIn("LDG.E.128.CONSTANT at 0x0020, in the block that skips the wait at 0x0030", out)

    def test_prefix_lists_the_loads_before_the_first_wait_without_judging_them(self):
        rc, out = self.run_check(listing("Unconditional", UNCONDITIONAL), "--prefix")
        self.assertEqual(rc, 0)
        self.assertIn("Unconditional: before its first wait: 1 LDG.E.128.CONSTANT", out)
        self.assertNotIn("before its first wait", self.run_check(listing("Unconditional", UNCONDITIONAL))[1])

    def test_passes_loads_below_the_wait_before_an_unconditional_one_or_in_another_block(self):
        text = listing("Kept", KEPT) + listing("Unconditional", UNCONDITIONAL) + listing("Earlier", EARLIER_BLOCK)
        rc, out = self.run_check(text)
        self.assertEqual(rc, 0, out)
        self.assertIn("3 kernels with a wait checked, 0 reported", out)

    def test_kernel_and_ignore_filters(self):
        text = listing("DownHoisted", HOISTED) + listing("FloatDotHoisted", HOISTED)
        self.assertIn("2 kernels with a wait checked, 2 reported", self.run_check(text)[1])
        rc, out = self.run_check(text, "--ignore", "FloatDot")
        self.assertEqual((rc, "1 kernels with a wait checked, 1 reported" in out), (1, True))
        rc, out = self.run_check(text, "--kernel", "FloatDot")
        self.assertEqual((rc, "FloatDotHoisted" in out, "DownHoisted" in out), (1, True, False))

    def test_kernels_without_a_wait_are_not_counted(self):
        rc, out = self.run_check(listing("NoWait", [(0x10, "LDG.E.128.CONSTANT R8, desc[UR4][R12.64]"),
                                                    (0x20, "EXIT")]))
        self.assertEqual(rc, 0)
        self.assertIn("0 kernels with a wait checked, 0 reported", out)

    def test_usage_errors(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(check.main(["/nonexistent/k.sass"]), 2)
        self.assertIn("cannot read /nonexistent/k.sass", err.getvalue())
        rc, _ = self.run_check("not a listing\n")
        self.assertEqual(rc, 2)

    def test_the_committed_down_product_excerpt_is_reported(self):
        path = os.path.join(ROOT, "bench", "results", "sass-down-prefetch-hoisted-loads-h200-2026-11-29i.txt")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = check.main([path])
        self.assertEqual(rc, 1)
        self.assertIn("LDG.E.128.CONSTANT at 0x2230", out.getvalue())
        self.assertIn("LDG.E.128.CONSTANT at 0x2270", out.getvalue())
        self.assertIn("skips the wait at 0x2500", out.getvalue())


if __name__ == "__main__":
    unittest.main()
