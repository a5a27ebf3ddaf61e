#!/usr/bin/env python3
"""Issue 11 (defect 6): Debian's sqlite3 building a table, its allocations profiled by profd at the
defaults and with the probes always attached, beside heaptrack (every call, LD_PRELOAD) and
unprofiled; interleaved rounds, medians of the seconds sqlite3 takes for the script once it has it.
Accuracy: profd's alloc_objects and alloc_space over heaptrack's calls and bytes for the same script
(sqlite3's start-up, which profd attaches after, subtracted: heaptrack of an empty script).

usage: bench/heap_sqlite.py [BUILD_DIR] [ROUNDS] [ROWS]"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
rows = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
profd = os.path.join(build, "daemon", "profd")
tmp = tempfile.mkdtemp(prefix="heap-sqlite-")
script = ("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER);\n"
          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
          "INSERT INTO t(k, v) SELECT printf('key-%%d', (x * 7919) %% 1000003), x FROM c;\n"
          "CREATE INDEX tk ON t(k);\n"
          "SELECT count(*), sum(v) FROM t WHERE k LIKE 'key-1%%';\n" % rows)


def run(prefix=(), profd_args=None, name="run"):
    """Seconds sqlite3 takes for the script, sent 1.5 s after it starts (profd attaches first)."""
    p = subprocess.Popen(list(prefix) + ["sqlite3", ":memory:"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    profiler = None
    if profd_args is not None:
        time.sleep(0.2)
        profiler = subprocess.Popen([profd, "--pid", str(p.pid), "--type", "allocs", "--seconds",
                                     "3600", "-q", "--top", "0", "-o",
                                     os.path.join(tmp, name + ".pb.gz")] + profd_args,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    start = time.monotonic()
    p.stdin.write(script)
    p.stdin.close()
    p.wait()
    taken = time.monotonic() - start
    if profiler:
        err = profiler.communicate()[1]
        with open(os.path.join(tmp, name + ".err"), "w") as f:
            f.write(err)
    return taken


def truth(text):
    out = os.path.join(tmp, "truth")
    subprocess.run(["heaptrack", "-o", out, "sqlite3", ":memory:"], input=text, text=True,
                   capture_output=True, check=True)
    data = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("truth.")][0]
    hist = os.path.join(tmp, "hist")
    subprocess.run(["heaptrack_print", "-f", data, "-p", "0", "-a", "0", "-T", "0", "-H", hist],
                   capture_output=True, check=True)
    os.unlink(data)
    calls = nbytes = 0
    for line in open(hist):
        size, count = (int(x) for x in line.split())
        calls += count
        nbytes += size * count
    return calls, nbytes


def totals(name):
    text = subprocess.run(["go", "tool", "pprof", "-raw", os.path.join(tmp, name + ".pb.gz")],
                          capture_output=True, text=True, check=True).stdout
    found = re.findall(r"^\s+(\d+)\s+(\d+)\s+\d+\s+\d+: ", text, re.M)
    return sum(int(a) for a, _ in found), sum(int(b) for _, b in found)


times = {"plain": [], "heaptrack": [], "default": []}
for _ in range(rounds):
    times["plain"].append(run())
    times["heaptrack"].append(run(["heaptrack", "-o", os.path.join(tmp, "ht")]))
    times["default"].append(run(profd_args=[], name="default"))
always = run(profd_args=["--max-overhead", "100"], name="always")
run(profd_args=["--max-overhead", "100", "--sample-rate", "1"], name="every")
calls, nbytes = truth(script)
idle_calls, idle_bytes = truth("")
calls -= idle_calls
nbytes -= idle_bytes
base = statistics.median(times["plain"])
print("sqlite3, %d rows: %d allocation calls, %d bytes (heaptrack); unprofiled %.3f s" %
      (rows, calls, nbytes, base))
print("| condition | seconds | slowdown | alloc_objects / truth | alloc_space / truth |")
print("|---|---|---|---|---|")
for name, label, taken in (
        ("default", "profd allocs, defaults (--max-overhead 3)", statistics.median(times["default"])),
        ("always", "profd allocs --max-overhead 100", always),
        ("every", "profd allocs --max-overhead 100 --sample-rate 1", None)):
    objects, space = totals(name)
    cost = "| %.3f | %.2f" % (taken, taken / base) if taken else "| — | —"
    print("| %s %s | %.3f | %.3f |" % (label, cost, objects / calls, space / nbytes))
ht = statistics.median(times["heaptrack"])
print("| heaptrack | %.3f | %.2f | 1 | 1 |" % (ht, ht / base))
err = open(os.path.join(tmp, "default.err")).read()
if "NOT to be trusted" in err:
    print("defaults: profd said the totals are NOT to be trusted")
