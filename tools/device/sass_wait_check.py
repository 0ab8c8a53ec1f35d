#!/usr/bin/env python3
"""Finds wide read-only loads that the compiler scheduled above a conditional wait for the
previous kernel, in `cuobjdump -sass` output (sm_90: griddepcontrol.wait is ACQBULK).

A kernel launched with programmatic dependent launch may load model weights before it waits
(kernels/cuda/internal/pdl.cuh), but nothing the previous kernel writes. Read-only loads
(__ldg, LDG.E.*.CONSTANT) are not kept below the wait: ptxas moved the activation loads of a down
product that prefetched its weights above a loop's `if (!waited) wait` (BENCHMARKS.md, "seventh
numbers"). This reports, for each ACQBULK that a branch can skip, the 128-bit loads in the basic
block that ends with that branch: where the dot kernels' activations (int8 levels and their
16-byte records) would be if they had been moved above the wait.

It cannot tell whose bytes a load reads: kernels whose weight parts are themselves 128-bit loads
(F32/F16/BF16 and Q4_K/Q5_K dots) are reported too and must be read by hand (--ignore drops them).
A predicated wait (`@!P0 ACQBULK`) counts as skippable too: the wide loads of its own block are
reported. Loads before a kernel's first, unconditional wait are the intended weight prefetches
and are not judged: the check cannot tell them from a read of the previous kernel's output moved
there (`--prefix` lists them per kernel, for reading by hand; at 418c2e7 only weight loads were
there). Nor do the compiler's moves go one way only: ptxas placed RoPE's norm-weight loads, written
before the wait, after it.

  nvcc -cubin -arch=sm_90 -std=c++20 -O3 -DNDEBUG -I. kernels/cuda/quant_matvec.cu -o qm.cubin
  cuobjdump -sass qm.cubin > qm.sass   # the GPU machine's toolkit, or triton/backends/nvidia/bin/
  python3 tools/device/sass_wait_check.py qm.sass --kernel DotKernel --ignore 'FloatDot|QxKDot'

Exit status: 0 when nothing is reported, 1 when something is, 2 on a usage error.
"""
import argparse
import re
import sys

INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,6})\*/\s+(@!?U?P\w+\s+)?([A-Z0-9_.]+)\s*([^;]*);")


def parse(text):
    """{function name: [(address, predicate, opcode, operands)]} of a cuobjdump -sass listing."""
    functions = {}
    for chunk in re.split(r"\n\s*Function : ", text)[1:]:
        name = chunk.split("\n", 1)[0].strip()
        code = []
        for line in chunk.split("\n"):
            m = INSTRUCTION.search(line)
            if m:
                code.append((int(m.group(1), 16), (m.group(2) or "").strip(), m.group(3), m.group(4).strip()))
        functions[name] = code
    return functions


def read_listing(path, tool):
    """parse() of the file at path; None, after a message on stderr naming the tool and the file,
    when it cannot be read or holds no function listing."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        print("%s: cannot read %s: %s" % (tool, path, e.strerror), file=sys.stderr)
        return None
    functions = parse(text)
    if not functions:
        print("%s: %s holds no 'Function :' listing (cuobjdump -sass output?)" % (tool, path), file=sys.stderr)
        return None
    return functions


def branch_targets(code):
    targets = set()
    for _, _, op, args in code:
        if op.startswith("BRA"):
            t = re.search(r"0x([0-9a-f]+)", args)
            if t:
                targets.add(int(t.group(1), 16))
    return targets


def hoisted_loads(code):
    """[(load address, opcode, wait address)] for the wide loads in the block before each branch
    around an ACQBULK."""
    targets = branch_targets(code)
    found = []
    for i, (address, predicate, op, _) in enumerate(code):
        if op != "ACQBULK":
            continue
        if predicate:
            # A predicated wait (`@!P0 ACQBULK`): its own block decides it.
            j = i - 1
        else:
            # The branch that jumps over the wait: within the few instructions before it.
            j = i - 1
            while j >= 0 and i - j < 4 and not code[j][2].startswith("BRA"):
                j -= 1
            if j < 0 or not code[j][2].startswith("BRA"):
                continue  # no branch jumps over it (the wait at a kernel's top: every path passes it)
            j -= 1
        # The deciding block: back to the previous branch, exit or branch target.
        while j >= 0 and not code[j][2].startswith(("BRA", "EXIT")):
            if code[j][2].startswith("LDG.E.128"):
                found.append((code[j][0], code[j][2], address))
            if code[j][0] in targets:
                break
            j -= 1
    return sorted(found)


def loads_before_first_wait(code):
    """{opcode: count} of the loads before a kernel's first ACQBULK in program order: the intended
    weight prefetches, which this check cannot tell from a hoisted load of the previous kernel's
    output (--prefix lists them, for reading by hand)."""
    counts = {}
    for _, _, op, _ in code:
        if op == "ACQBULK":
            break
        if op.startswith("LDG"):
            counts[op] = counts.get(op, 0) + 1
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sass", nargs="+", help="cuobjdump -sass output files")
    parser.add_argument("--kernel", default="", help="only functions whose name matches this regex")
    parser.add_argument("--ignore", default="", help="skip functions whose name matches this regex")
    parser.add_argument("--prefix", action="store_true",
                        help="also list, per kernel, the loads before its first wait (not judged)")
    args = parser.parse_args(argv)
    checked = reported = 0
    for path in args.sass:
        functions = read_listing(path, "sass_wait_check")
        if functions is None:
            return 2
        for name, code in functions.items():
            if args.kernel and not re.search(args.kernel, name):
                continue
            if args.ignore and re.search(args.ignore, name):
                continue
            if not any(op == "ACQBULK" for _, _, op, _ in code):
                continue
            checked += 1
            if args.prefix:
                prefix = loads_before_first_wait(code)
                if prefix:
                    print("%s: %s: before its first wait: %s" % (
                        path, name, ", ".join("%d %s" % (n, op) for op, n in sorted(prefix.items()))))
            loads = hoisted_loads(code)
            if loads:
                reported += 1
                print("%s: %s" % (path, name))
                for load, op, wait in loads:
                    print("  %s at 0x%04x, in the block that skips the wait at 0x%04x" % (op, load, wait))
    print("%d kernels with a wait checked, %d reported" % (checked, reported))
    return 1 if reported else 0


if __name__ == "__main__":
    sys.exit(main())
