#!/usr/bin/env python3
"""Finds global loads that the compiler issues one at a time, each used before the next is
issued, in `cuobjdump -sass` output: chains of round trips to memory where the source meant the
loads to be in flight together.

Decode attention's key loads were such a chain (BENCHMARKS.md, "ninth numbers"): in source, a
warp loaded its eight positions' keys in an unrolled loop, but each `LDG` was followed by the
dot product's `FFMA`s that read it, so the warp waited for every key in turn, eight round trips
where one was meant. Loading all eight into registers before dotting any made qwen3-30b-a3b's
decode 2.5 % faster at short contexts and 7.6 % after 4,000 positions.

A load is "waited for in turn" when an instruction reads one of its destination registers
before the next global load in program order, or that load itself takes its address from it (address order: a loop's body is read once, so a
loop that loads and uses one row per iteration is not reported; unrolled code is). A run of at
least --min-run such loads in a row is reported with its addresses. Uniform registers and
predicates are not tracked; a load whose registers are overwritten before any use ends nothing.

  nvcc -cubin -arch=sm_90 -std=c++20 -O3 -DNDEBUG -I. kernels/cuda/attention_group.cu -o ag.cubin
  cuobjdump -sass ag.cubin > ag.sass   # the GPU machine's toolkit, or triton/backends/nvidia/bin/
  python3 tools/device/sass_load_chains.py ag.sass --kernel AttentionGroupKernel

Exit status: 0 when nothing is reported, 1 when something is, 2 on a usage error.
"""
import argparse
import importlib.util
import os
import re
import sys

_spec = importlib.util.spec_from_file_location(
    "sass_wait_check", os.path.join(os.path.dirname(os.path.abspath(__file__)), "sass_wait_check.py"))
_wait_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_wait_check)
# {function name: [(address, predicate, opcode, operands)]} of a listing, or None after an error
read_listing = _wait_check.read_listing

REGISTER = re.compile(r"(?<![A-Z_])R(\d+)(\.64)?")
STORES = ("ST", "RED", "ATOM")


def load_registers(op, operands):
    """The registers a global load writes: its first operand, 1, 2 or 4 wide."""
    m = REGISTER.match(operands.split(",")[0].strip().lstrip("-"))
    if not m:
        return set()
    width = 4 if ".128" in op else 2 if ".64" in op else 1
    first = int(m.group(1))
    return set(range(first, first + width))


def read_registers(op, operands):
    """The registers an instruction reads: every register operand but a non-store's first (its
    destination); a `.64` operand reads two."""
    parts = operands.split(",")
    if not op.startswith(STORES):
        parts = parts[1:]
    regs = set()
    for part in parts:
        for m in REGISTER.finditer(part):
            n = int(m.group(1))
            regs.add(n)
            if m.group(2):
                regs.add(n + 1)
    return regs


def serialized_runs(code, min_run):
    """[(first load address, last load address, length)] of runs of at least min_run global loads
    in a row, each read before the next global load is issued."""
    loads = [i for i, (_, _, op, _) in enumerate(code) if op.startswith("LDG")]
    waited = []
    for k, i in enumerate(loads):
        # Up to and including the next load: one that takes its address from this load's value
        # (a pointer chase) waits for it too.
        end = loads[k + 1] + 1 if k + 1 < len(loads) else len(code)
        dest = load_registers(code[i][2], code[i][3])
        used = False
        for j in range(i + 1, end):
            _, _, op, operands = code[j]
            if read_registers(op, operands) & dest:
                used = True
                break
            if not op.startswith(STORES):
                written = load_registers("", operands) if operands else set()
                dest -= written  # overwritten first: this load's value is gone
                if not dest:
                    break
        waited.append(used)
    runs = []
    start = None
    for k, w in enumerate(waited + [False]):
        if w and start is None:
            start = k
        elif not w and start is not None:
            if k - start >= min_run:
                runs.append((code[loads[start]][0], code[loads[k - 1]][0], k - start))
            start = None
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sass", nargs="+", help="cuobjdump -sass output files")
    parser.add_argument("--kernel", default="", help="only functions whose name matches this regex")
    parser.add_argument("--min-run", type=int, default=4, help="shortest run reported (default 4)")
    args = parser.parse_args(argv)
    if args.min_run < 2:
        print("sass_load_chains: --min-run must be at least 2", file=sys.stderr)
        return 2
    checked = reported = 0
    for path in args.sass:
        functions = read_listing(path, "sass_load_chains")
        if functions is None:
            return 2
        for name, code in functions.items():
            if args.kernel and not re.search(args.kernel, name):
                continue
            checked += 1
            runs = serialized_runs(code, args.min_run)
            if runs:
                reported += 1
                print("%s: %s" % (path, name))
                for first, last, n in runs:
                    print("  %d loads at 0x%04x..0x%04x, each used before the next is issued" % (n, first, last))
    print("%d kernels checked, %d reported" % (checked, reported))
    return 1 if reported else 0


if __name__ == "__main__":
    sys.exit(main())
