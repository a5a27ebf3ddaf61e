"""Python frames in CPU profiles: Debian's CPython 3.11 profiled by its Python functions, through
the real BPF sampler, read back with `go tool pprof`."""
import os
import re
import unittest

from profd_testing import WorkloadTestCase, pprof, raw_stacks, run_profd, start_workload

PYTHON = "/usr/bin/python3.11"
WORKLOAD = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                         "workloads", "python_split.py"))


def python_shares(path, functions):
    """cum % of each of `functions` over the samples of the profile, from its stacks."""
    stacks = raw_stacks(path)
    total = float(sum(count for count, _ in stacks))
    cum = {f: 0 for f in functions}
    for count, frames in stacks:
        for f in functions:
            if f in frames:
                cum[f] += count
    return {f: 100.0 * v / total for f, v in cum.items()}, stacks, int(total)


@unittest.skipUnless(os.path.exists(PYTHON), "no " + PYTHON)
class PythonProfileTest(WorkloadTestCase):
    dir_prefix = "profd-python-"

    def profile_pid(self, mode, seconds):
        p = start_workload([PYTHON, WORKLOAD, mode, str(seconds + 3)])
        self.procs.append(p)
        out = os.path.join(self.dir, mode + ".pb.gz")
        r = run_profd(["--pid", str(p.pid), "--type", "cpu", "--seconds", str(seconds), "-o", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def assert_three_to_one(self, out):
        shares, stacks, total = python_shares(out, ["main", "hot", "cold"])
        text = pprof(["-top", "-nodecount=25", out])
        self.assertGreater(total, 100, text)
        both = shares["hot"] + shares["cold"]
        self.assertGreater(both, 90, text)
        self.assertAlmostEqual(100 * shares["hot"] / both, 75, delta=5, msg=text)
        self.assertGreater(shares["main"], 95, text)
        # Python callers under their callees: hot's caller is main, main's is the module.
        callers = {}
        for count, frames in stacks:
            if "hot" in frames:
                i = frames.index("hot")
                key = tuple(frames[i + 1:i + 3])
                callers[key] = callers.get(key, 0) + count
        self.assertEqual(max(callers, key=callers.get), ("main", "<module>"), callers)
        return text

    def assert_lines(self, out):
        """-list shows the workload's file, hot's call of work (line 22) and work's loop (15-17)."""
        for function, lines, hottest in (("hot", range(21, 23), {22}), ("work", range(12, 19),
                                                                        {15, 16, 17})):
            text = pprof(["-list", "^%s$" % function, out])
            self.assertIn("ROUTINE", text)
            self.assertIn(WORKLOAD, text)
            counted = set()
            for line in text.splitlines():
                m = re.match(r"^\s+(\S+)\s+(\S+)\s+(\d+):", line)
                if m and m.group(2) != ".":
                    counted.add(int(m.group(3)))
            self.assertTrue(counted and counted <= set(lines), text)
            self.assertTrue(counted & hottest, text)

    def test_hot_cold_three_to_one_by_pid(self):
        out = self.profile_pid("split", 4)
        self.assert_three_to_one(out)
        self.assert_lines(out)

    def test_launched_command_from_start_to_exit(self):
        out = os.path.join(self.dir, "launch.pb.gz")
        r = run_profd(["--type", "cpu", "-o", out, "--", PYTHON, WORKLOAD, "split", "4"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_three_to_one(out)
        self.assert_lines(out)

    def test_c_extension_frames_sit_on_their_python_caller(self):
        out = self.profile_pid("zlib", 3)
        shares, stacks, total = python_shares(out, ["compress_loop"])
        text = pprof(["-top", "-nodecount=25", out])
        self.assertGreater(shares["compress_loop"], 95, text)
        # zlib's deflate runs in C on top of compress_loop: C frames leaf side, the caller below.
        on_c = 0
        for count, frames in stacks:
            if "compress_loop" not in frames:
                continue
            below = frames[:frames.index("compress_loop")]
            if any(re.match(r"(deflate|longest_match|fill_window|compress)", f) for f in below):
                on_c += count
        self.assertGreater(100.0 * on_c / total, 70, text)


if __name__ == "__main__":
    unittest.main()
