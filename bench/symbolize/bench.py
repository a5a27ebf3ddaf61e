#!/usr/bin/env python3
"""Times our symbolizer against llvm-symbolizer and addr2line on random .text addresses.

Each tool runs as a whole process (startup included) on the same address file, RUNS times,
interleaved; medians are reported. Our output is then compared with llvm-symbolizer's.

Environment:
  PROFD_SYMBOLIZE_CMD  command taking the object as its last argument and addresses on stdin
                       (default: "build/daemon/profd --symbolize")
  OBJ                  ELF file (default /lib/x86_64-linux-gnu/libc.so.6)
  N, SEED, RUNS        address count (20000), seed (42), runs per tool (7)
"""
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def timed(cmd, stdin_path, stdout_path):
    with open(stdin_path) as stdin, open(stdout_path, "w") as stdout:
        start = time.perf_counter()
        subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start


def main():
    obj = os.environ.get("OBJ", "/lib/x86_64-linux-gnu/libc.so.6")
    n = int(os.environ.get("N", "20000"))
    seed = int(os.environ.get("SEED", "42"))
    runs = int(os.environ.get("RUNS", "7"))
    ours = shlex.split(os.environ.get(
        "PROFD_SYMBOLIZE_CMD", os.path.join(REPO, "build/daemon/profd") + " --symbolize"))
    work = tempfile.mkdtemp(prefix="symbench.")
    addresses = os.path.join(work, "addresses.txt")
    with open(addresses, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_addresses.py"), obj, str(n),
                        str(seed)], stdout=f, check=True)
    tools = {
        "profd": ours + [obj],
        "llvm-symbolizer": ["llvm-symbolizer", "--inlining", f"--obj={obj}"],
        "addr2line": ["addr2line", "-f", "-i", "-e", obj],
    }
    times = {name: [] for name in tools}
    for _ in range(runs):
        for name, cmd in tools.items():
            times[name].append(timed(cmd, addresses, os.path.join(work, f"{name}.out")))
    print(f"object: {obj}\naddresses: {n} (seed {seed}), runs: {runs}, whole-process wall time")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"  {name:16s} median {medians[name] * 1000:7.1f} ms   "
              f"min {min(t) * 1000:7.1f}   max {max(t) * 1000:7.1f}   "
              f"({medians[name] / n * 1e6:5.2f} us/address)")
    ratio = medians["profd"] / medians["llvm-symbolizer"]
    print(f"  profd / llvm-symbolizer = {ratio:.3f} (target <= 0.5)")
    subprocess.run([sys.executable, os.path.join(HERE, "compare.py"), addresses,
                    os.path.join(work, "llvm-symbolizer.out"), os.path.join(work, "profd.out")],
                   check=True)
    print(f"outputs kept in {work}")


if __name__ == "__main__":
    main()
