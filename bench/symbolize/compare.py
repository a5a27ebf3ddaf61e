#!/usr/bin/env python3
"""Compares two llvm-symbolizer --inlining style outputs for the same address list.

usage: compare.py ADDRESSES REFERENCE CANDIDATE [--show N]
Prints chain agreement (the sequence of function names per address) and full agreement
(functions and file:line:column), and the first N differences.
"""
import sys


def blocks(path):
    with open(path) as f:
        text = f.read()
    out = []
    for block in text.split("\n\n"):
        lines = [l for l in block.split("\n") if l != ""]
        if not lines:
            continue
        out.append([(lines[i], lines[i + 1] if i + 1 < len(lines) else "")
                    for i in range(0, len(lines), 2)])
    return out


def main():
    args = sys.argv[1:]
    show = 0
    if "--show" in args:
        i = args.index("--show")
        show = int(args[i + 1])
        del args[i:i + 2]
    addresses = [l.strip() for l in open(args[0]) if l.strip()]
    reference, candidate = blocks(args[1]), blocks(args[2])
    if len(reference) != len(addresses) or len(candidate) != len(addresses):
        sys.exit(f"block counts differ: {len(addresses)} addresses, {len(reference)} reference, "
                 f"{len(candidate)} candidate")
    chain_same = full_same = line_same = 0
    shown = 0
    for address, ref, cand in zip(addresses, reference, candidate):
        chain_ok = [f for f, _ in ref] == [f for f, _ in cand]
        full_ok = ref == cand
        chain_same += chain_ok
        full_same += full_ok
        # file:line only (column ignored), over the whole chain
        line_same += [(f, l.rsplit(":", 1)[0]) for f, l in ref] == \
                     [(f, l.rsplit(":", 1)[0]) for f, l in cand]
        if not full_ok and shown < show:
            shown += 1
            print(f"--- {address}\n  ref:  {ref}\n  ours: {cand}")
    n = len(addresses)
    print(f"addresses: {n}")
    print(f"function chains agree: {chain_same} ({100.0 * chain_same / n:.2f}%)")
    print(f"chains + file:line agree: {line_same} ({100.0 * line_same / n:.2f}%)")
    print(f"chains + file:line:column agree: {full_same} ({100.0 * full_same / n:.2f}%)")


if __name__ == "__main__":
    main()
