#!/usr/bin/env python3
"""Inclusive shares of a `perf script` profile under one frame, by the frames it calls.

Usage:
    perf record -F 199 --call-graph dwarf,16384 -p <herald pid> -- sleep 6
    perf script [--comm tokio-rt-worker] > profile.txt
    scripts/perf-inclusive.py profile.txt 'attempt::perform' [depth] [rows]

Prints how many samples have the frame on their stack (its outermost occurrence), as a share of
all samples in the file, then those samples grouped by the `depth` frames it calls (default 1),
largest first (`rows`, default 25). "(self)" is time in the frame itself.
"""
import collections
import re
import sys


def samples(path):
    """Each sample's stack, leaf first, as symbol names without offsets or modules."""
    stack = None
    with open(path) as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if not line[0].isspace():
                if stack is not None:
                    yield stack
                stack = []
                continue
            parts = line.strip().split(" ", 1)
            symbol = parts[1] if len(parts) > 1 else parts[0]
            symbol = re.sub(r" \([^()]*\)$", "", symbol)
            symbol = re.sub(r"\+0x[0-9a-f]+( \(inlined\))?$", "", symbol)
            stack.append(symbol)
    if stack is not None:
        yield stack


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, frame = sys.argv[1], sys.argv[2]
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    total = under = 0
    callees = collections.Counter()
    for stack in samples(path):
        total += 1
        found = [i for i, symbol in enumerate(stack) if frame in symbol]
        if not found:
            continue
        under += 1
        outermost = max(found)
        called = stack[max(outermost - depth, 0):outermost][::-1]
        callees[" > ".join(called)[:200] if called else "(self)"] += 1
    if not total:
        sys.exit(f"{path}: no samples")
    print(f"{total} samples, {under} under {frame!r} ({100 * under / total:.1f} %)")
    for callee, count in callees.most_common(rows):
        print(f"{100 * count / total:5.1f} %  {callee}")


if __name__ == "__main__":
    main()
