"""A corpus of programs nobody here wrote (Debian's stripped builds of xz, sqlite3, python3.11 and
redis-server) and programs built as their users build them (C++ with clang and lld, Rust linked
with lld), each profiled by profd and by `perf record --call-graph dwarf` side by side on the same
process for the same seconds. Frames are compared as functions (the .eh_frame FDE holding them),
so stripped code and the tools' alias choices compare alike (see oracles.py).

Bounds are each program's measured agreement less a few points (BENCHMARKS.md has the figures).
Where the two disagree, perf is not always right: in sqlite3 it loses malloc between _int_malloc and
its caller (glibc's malloc calls _int_malloc, objdump shows the call); around libc's syscall
wrappers in redis-server the two differ more, and which one is right there is not settled."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import oracles
from profd_testing import WorkloadTestCase, pprof, run_profd, top_rows

WORKLOADS = os.environ.get("WORKLOADS_DIR", "")
SECONDS = 4
FREQUENCY = 499


class RealProgramsTest(WorkloadTestCase):
    dir_prefix = "profd-corpus-"

    def setUp(self):
        super().setUp()
        self.index = oracles.FunctionIndex()

    def start(self, argv, **kwargs):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        self.procs.append(p)
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "%s exited at once" % argv)
        return p

    def side_by_side(self, pid, name, interpreter=None):
        """Profiles pid with perf and profd at once; returns (profile path, figures, report). With
        `interpreter` (CPython's path), profd's Python frames are compared as the eval loop perf
        sees."""
        perf_data = os.path.join(self.dir, name + ".perf")
        profile = os.path.join(self.dir, name + ".pb.gz")
        perf = oracles.perf_record(SECONDS, FREQUENCY, perf_data)
        r = run_profd(["--pid", str(pid), "--seconds", str(SECONDS), "--frequency",
                       str(FREQUENCY), "-o", profile, "-q", "--top", "0"])
        perf.wait(timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(perf.returncode, 0, perf.stderr.read())
        mappings = oracles.file_mappings(pid)
        python_eval = oracles.python_eval_frame(self.index, interpreter) if interpreter else None
        figures = oracles.compare(oracles.perf_stacks(perf_data, self.index, pid, mappings),
                                  oracles.profd_stacks(profile, self.index, python_eval=python_eval),
                                  "__libc_start_call_main")
        text = oracles.report(name, figures)
        print("\n" + text)
        return profile, figures, text

    def check(self, figures, text, pairs, leaves, top_leaves=True):
        self.assertGreater(figures["profd_samples"], 200, text)
        # Whole stacks: as many reach main as perf's do (all, for these programs).
        self.assertGreaterEqual(figures["profd_reach"], 0.97, text)
        self.assertGreaterEqual(figures["profd_reach"], figures["perf_reach"] - 0.02, text)
        # Top leaves within three standard deviations of two independent samplings, plus a point.
        n, m = figures["perf_samples"], figures["profd_samples"]
        for name, perf_share, profd_share in figures["top_leaves"][:5] if top_leaves else []:
            sigma = (perf_share * (1 - perf_share) * (1 / n + 1 / m)) ** 0.5
            self.assertLess(abs(perf_share - profd_share), 3 * sigma + 0.01,
                            "%s\n%s" % (name, text))
        self.assertGreaterEqual(figures["leaf_agreement"], leaves, text)
        self.assertGreaterEqual(figures["pair_agreement"], pairs, text)

    def test_xz_stripped_without_frame_pointers(self):
        data = os.path.join(self.dir, "data")
        with open(data, "wb") as f:
            f.write(os.urandom(12 << 20).hex().encode())  # compressible: 16 symbols
        p = self.start(["xz", "-9", "-T1", "-c", data])
        _, figures, text = self.side_by_side(p.pid, "xz")
        self.check(figures, text, pairs=0.93, leaves=0.93)

    def test_python3_interpreter(self):
        p = self.start(["/usr/bin/python3", "-c",
                        "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
                        "while True: fib(24)\n"])
        profile, figures, text = self.side_by_side(p.pid, "python3", "/usr/bin/python3.11")
        self.check(figures, text, pairs=0.93, leaves=0.93)
        # Where perf sees the interpreter's eval loop, profd names the Python function.
        rows, top = top_rows(profile)
        self.assertGreater(rows["fib"][0], 70, top)

    def test_sqlite3_building_a_table(self):
        script = os.path.join(self.dir, "build.sql")
        with open(script, "w") as f:
            f.write("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER);\n"
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                    "WHERE x < 20000000) INSERT INTO t(k, v) "
                    "SELECT printf('key-%d', (x * 7919) % 1000003), x FROM c;\n")
        p = self.start(["sqlite3", ":memory:", "-init", script, ".quit"])
        _, figures, text = self.side_by_side(p.pid, "sqlite3")
        self.check(figures, text, pairs=0.75, leaves=0.8)

    def sqlite3_allocations(self, script, profd_args=None):
        """Runs sqlite3 reading `script` from stdin; with profd_args, profd is attached first (the
        script is sent once it is) and the profile's (objects, bytes) allocated are returned, else
        heaptrack runs it and its (calls, bytes) are. Allocations before the script are left out
        of both: heaptrack's of an empty script are subtracted."""
        def heaptrack(text):
            out = os.path.join(self.dir, "ht")
            subprocess.run(["heaptrack", "-o", out, "sqlite3", ":memory:"], input=text, text=True,
                           capture_output=True, check=True, timeout=300)
            data = [f for f in os.listdir(self.dir) if f.startswith("ht.")][0]
            histogram = os.path.join(self.dir, "hist.txt")
            subprocess.run(["heaptrack_print", "-f", os.path.join(self.dir, data), "-p", "0",
                            "-a", "0", "-T", "0", "-H", histogram], capture_output=True,
                           check=True, timeout=300)
            os.unlink(os.path.join(self.dir, data))
            calls = nbytes = 0
            with open(histogram) as f:
                for line in f:
                    size, count = (int(x) for x in line.split())
                    calls += count
                    nbytes += size * count
            return calls, nbytes

        if profd_args is None:
            calls, nbytes = heaptrack(script)
            idle_calls, idle_bytes = heaptrack("")
            return calls - idle_calls, nbytes - idle_bytes, ""
        p = subprocess.Popen(["sqlite3", ":memory:"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True)
        self.procs.append(p)
        time.sleep(0.3)
        out = os.path.join(self.dir, "sqlite-allocs.pb.gz")
        profd = subprocess.Popen([os.environ.get("PROFD", "profd"), "--pid", str(p.pid), "--type",
                                  "allocs", "--seconds", "120", "-o", out, "-q", "--top", "0"]
                                 + profd_args, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # attached (the probes' cost is measured first)
        p.stdin.write(script)
        p.stdin.close()
        p.wait(timeout=300)
        stderr = profd.communicate(timeout=120)[1]
        self.assertIn(profd.returncode, (0, 3), stderr)
        rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+\d+\s+\d+: ", pprof(["-raw", out]), re.M)
        return (sum(int(a) for a, _ in rows), sum(int(b) for _, b in rows),
                stderr + pprof(["-comments", out]))

    def test_sqlite3_allocations_against_heaptrack(self):
        script = ("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER);\n"
                  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000)"
                  " INSERT INTO t(k, v) SELECT printf('key-%d', (x * 7919) % 1000003), x FROM c;\n"
                  "CREATE INDEX tk ON t(k);\n"
                  "SELECT count(*), sum(v) FROM t WHERE k LIKE 'key-1%';\n")
        calls, nbytes, _ = self.sqlite3_allocations(script)
        self.assertGreater(calls, 50000)
        report = ["heaptrack: %d calls, %d bytes" % (calls, nbytes)]
        # Every allocation recorded, probes always attached: exact.
        objects, space, _ = self.sqlite3_allocations(
            script, ["--sample-rate", "1", "--max-overhead", "100"])
        report.append("profd --sample-rate 1 --max-overhead 100: %d objects, %d bytes" %
                      (objects, space))
        self.assertLess(abs(objects / calls - 1), 0.01, report)
        self.assertLess(abs(space / nbytes - 1), 0.01, report)
        # Sampled by bytes, always attached: each sample counts 1/p of itself, unbiased.
        objects, space, _ = self.sqlite3_allocations(
            script, ["--sample-rate", "4KiB", "--max-overhead", "100"])
        report.append("profd --sample-rate 4KiB --max-overhead 100: %d objects, %d bytes" %
                      (objects, space))
        self.assertLess(abs(space / nbytes - 1), 0.08, report)
        self.assertLess(abs(objects / calls - 1), 0.2, report)
        # The defaults: right within a factor of 1.5, or the profile says not to trust the totals.
        objects, space, notes = self.sqlite3_allocations(script, [])
        report.append("profd defaults: %d objects, %d bytes" % (objects, space))
        print("\n" + "\n".join(report))
        if not 1 / 1.5 < space / nbytes < 1.5:
            self.assertIn("allocation totals are NOT to be trusted", notes, report)

    def test_redis_server_under_redis_benchmark(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = self.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", self.dir])
        self.start(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q", "-n", "100000000",
                    "-t", "set,get", "-P", "8", "-c", "4"])
        _, figures, text = self.side_by_side(server.pid, "redis-server")
        # Its top leaf, libc's write wrapper, took 44-48% of perf's samples and 46-57% of profd's
        # in runs of the same test: which one is right there is not settled (see the docstring),
        # so only the overall agreement is held.
        self.check(figures, text, pairs=0.65, leaves=0.72, top_leaves=False)

    def assert_lld_layout(self, path):
        out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True,
                             check=True).stdout
        code = [l.split() for l in out.splitlines() if l.strip().startswith("LOAD") and " R E " in l]
        self.assertTrue(code and int(code[0][1], 16) != int(code[0][2], 16), out)

    def lld_program(self, name, pairs, leaves):
        """Checks the lld-linked workload `name` against perf; returns its top rows."""
        binary = os.path.join(WORKLOADS, name)
        self.assert_lld_layout(binary)
        p = self.start([binary, "60"])
        profile, figures, text = self.side_by_side(p.pid, name)
        self.check(figures, text, pairs=pairs, leaves=leaves)
        return top_rows(profile)

    def test_cpp_built_with_clang_and_lld(self):
        rows, top = self.lld_program("cpp-sort-clang-lld", pairs=0.85, leaves=0.87)
        self.assertGreater(rows["main"][1], 97.0, top)
        # PLT stubs carry their target's name (lld places .plt after .fini, whose _fini took them).
        self.assertFalse([n for n in rows if n == "_fini"], top)

    def test_rust_linked_with_lld(self):
        rows, top = self.lld_program("rust-hashmap-lld", pairs=0.88, leaves=0.88)
        self.assertGreater(rows["rust_hashmap::main"][1], 97.0, top)
        # Trait impls keep their whole names (pprof's re-simplification cut them to "::write").
        self.assertTrue([n for n in rows if re.match(r"<core::hash::sip::Hasher<S> as "
                                                     r"core::hash::Hasher>::\w+", n)], top)
        self.assertFalse([n for n in rows if n.startswith("::")], top)

    def test_node_jit_functions_named_as_perf_names_them(self):
        # V8 names its compiled code in /tmp/perf-PID.map (--perf-basic-prof); perf's leaf names of
        # the same seconds are the oracle. The script is plain JavaScript: two loops called 3:1.
        script = os.path.join(self.dir, "split.js")
        with open(script, "w") as f:
            f.write("function hot(n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;"
                    " return x; }\n"
                    "function cold(n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 17 + i) | 0;"
                    " return x; }\n"
                    "let sink = 0;\n"
                    "for (;;) { sink += hot(3000000); sink += cold(1000000); }\n")
        p = self.start(["node", "--perf-basic-prof", script], cwd=self.dir)  # its v8 logs there
        self.addCleanup(lambda: os.path.exists("/tmp/perf-%d.map" % p.pid) and
                        os.unlink("/tmp/perf-%d.map" % p.pid))
        time.sleep(1)  # V8 optimizes both loops within the first second
        perf_data = os.path.join(self.dir, "node.perf")
        profile = os.path.join(self.dir, "node.pb.gz")
        perf = subprocess.Popen(["perf", "record", "-q", "-a", "-F", str(FREQUENCY), "-o",
                                 perf_data, "--", "sleep", str(SECONDS)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(perf.stderr.close)
        r = run_profd(["--pid", str(p.pid), "--seconds", str(SECONDS), "--frequency",
                       str(FREQUENCY), "-o", profile])
        perf.wait(timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(perf.returncode, 0, perf.stderr.read())
        leaves = {}
        script_out = subprocess.run(["perf", "script", "-i", perf_data, "--pid", str(p.pid), "-F",
                                     "ip,sym"], capture_output=True, text=True, check=True).stdout
        for line in script_out.splitlines():
            name = line.split(None, 1)[1].strip() if len(line.split(None, 1)) == 2 else ""
            leaves[name] = leaves.get(name, 0) + 1
        total = sum(leaves.values())
        rows, top = top_rows(profile)
        report = "perf leaves: %s\n%s" % (sorted(leaves.items(), key=lambda kv: -kv[1])[:5], top)
        for function in ("hot", "cold"):
            name = "JS:*%s %s:%d:" % (function, script, 1 if function == "hot" else 2)
            perf_share = 100.0 * sum(n for k, n in leaves.items() if k.startswith(name)) / total
            profd_share = sum(flat for k, (flat, _) in rows.items() if k.startswith(name))
            self.assertGreater(perf_share, 15.0, report)  # perf named it: the oracle holds
            self.assertLess(abs(perf_share - profd_share), 5.0, report)

if __name__ == "__main__":
    unittest.main()
