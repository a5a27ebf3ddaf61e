#!/usr/bin/env python3
"""Prints N uniformly random addresses inside an ELF file's .text section (fixed seed), one hex per line."""
import random
import subprocess
import sys


def text_range(path):
    out = subprocess.run(["readelf", "-SW", path], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 5 and fields[1] == ".text":
            start, size = int(fields[3], 16), int(fields[5], 16)
            return start, start + size
    sys.exit(f"no .text in {path}")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/lib/x86_64-linux-gnu/libc.so.6"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    start, end = text_range(path)
    rng = random.Random(seed)
    print("\n".join(hex(rng.randrange(start, end)) for _ in range(count)))


if __name__ == "__main__":
    main()
