"""goroutine (thread dump) profiles: every thread's stack, and every thread left running."""
import glob
import os
import re
import tempfile
import time
import unittest

from profd_testing import GO_SPLIT_STRIPPED, pprof, run_profd, start_workload, top_rows

THREAD_SPLIT = os.path.join(os.environ.get("WORKLOADS_DIR", ""), "thread-split")


def thread_states(pid):
    states = {}
    for stat in glob.glob("/proc/%d/task/*/stat" % pid):
        with open(stat) as f:
            text = f.read()
        states[int(stat.split("/")[4])] = text[text.rindex(")") + 2]
    return states


class GoroutineProfileTest(unittest.TestCase):
    def test_parked_threads_and_main(self):
        # thread-split parks 5 threads in `park` (4 + 1) at once and keeps its main thread in usleep.
        p = start_workload([THREAD_SPLIT, "0", "60"])
        try:
            time.sleep(0.5)
            out = os.path.join(tempfile.mkdtemp(prefix="profd-g-"), "g.pb.gz")
            start = time.time()
            r = run_profd(["--pid", str(p.pid), "--type", "goroutine", "-o", out])
            self.assertLess(time.time() - start, 5, "a thread dump returns at once")
            self.assertEqual(r.returncode, 0, r.stderr)
            time.sleep(0.2)
            states = thread_states(p.pid)
            self.assertEqual(len(states), 6, states)
            # Nobody left stopped (t: tracing stop, T: stopped).
            self.assertFalse([tid for tid, s in states.items() if s in "tT"], states)
            self.assertIsNone(p.poll())
        finally:
            p.kill()
            p.wait()
        rows, text = top_rows(out)
        self.assertIn("accounting for 6, 100% of 6 total", text)
        self.assertAlmostEqual(rows["park"][1], 83.33, places=1, msg=text)
        self.assertAlmostEqual(rows["main"][1], 16.67, places=1, msg=text)
        self.assertIn("__x64_sys_pause", rows, text)  # kernel frames where each thread waits
        tags = pprof(["-tags", out])
        self.assertIn("tid", tags)
        self.assertIn("goroutine/count", pprof(["-raw", out]))
        self.assertRegex(pprof(["-comments", out]), r"6 threads, each stopped \(ptrace\) for median")

    def test_stripped_go_program_keeps_the_caller_of_its_frameless_leaf(self):
        # go-split's main thread is nearly always in hotFunction or coldFunction, frameless leaves
        # (frame pointers would skip main.main); the dump unwinds them with .gopclntab.
        p = start_workload([GO_SPLIT_STRIPPED, "60"])
        try:
            time.sleep(0.5)
            directory = tempfile.mkdtemp(prefix="profd-g-")
            for i in range(5):
                out = os.path.join(directory, "go%d.pb.gz" % i)
                r = run_profd(["--pid", str(p.pid), "--type", "goroutine", "-o", out])
                self.assertEqual(r.returncode, 0, r.stderr)
                rows, text = top_rows(out, ["-tagfocus=tid=%d" % p.pid])
                # The main thread's one sample, as a share of all threads'.
                share = float(re.search(r"accounting for 1, ([\d.]+)% of", text).group(1))
                self.assertEqual(rows["main.main"][1], share, text)
                self.assertEqual(rows["runtime.main"][1], share, text)
        finally:
            p.kill()
            p.wait()

    def test_all_is_refused(self):
        r = run_profd(["--all", "--type", "goroutine"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--pid", r.stderr)


if __name__ == "__main__":
    unittest.main()
