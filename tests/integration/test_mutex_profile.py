"""mutex profiles through the real futex tracepoint programs, checked with `go tool pprof`."""
import os
import re
import tempfile
import unittest

from profd_testing import pprof, run_profd, start_workload, top_rows

MUTEX_SPLIT = os.path.join(os.environ.get("WORKLOADS_DIR", ""), "mutex-split")


class MutexProfileTest(unittest.TestCase):
    def profile(self, argv):
        p = start_workload(argv)
        try:
            out = os.path.join(tempfile.mkdtemp(prefix="profd-mutex-"), "m.pb.gz")
            r = run_profd(["--pid", str(p.pid), "--type", "mutex", "--seconds", "3", "-o", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            return out
        finally:
            p.kill()
            p.wait()

    def test_condition_variable_waits_are_not_contention(self):
        # The waiter spends ~3 s in pthread_cond_wait; only the brief hand-offs of the mutex may count.
        out = self.profile([MUTEX_SPLIT, "60", "condvar"])
        text = pprof(["-top", "-sample_index=delay", out])
        m = re.search(r"Total samples = (\d+(?:\.\d+)?)(ms|us|ns|s)?", text)
        total = float(m.group(1)) * {"s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, None: 0}[m.group(2)]
        self.assertLess(total, 0.3, text)

    def test_hot_lock_holds_the_waiting(self):
        out = self.profile([MUTEX_SPLIT, "60"])
        rows, text = top_rows(out, ["-sample_index=delay"])
        # By construction the hot lock is taken 100 times as often as the cold one.
        self.assertGreaterEqual(rows["contend_hot"][1], 90.0, text)
        # Whole stacks from the waiter through glibc's lock slow path (no frame pointers).
        self.assertIn("pthread_mutex_lock", rows, text)
        self.assertIn("worker", rows, text)
        self.assertIn("contentions/count delay/nanoseconds", pprof(["-raw", out]))


if __name__ == "__main__":
    unittest.main()
