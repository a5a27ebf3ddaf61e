"""mutex profiles through the real futex tracepoint programs, checked with `go tool pprof`."""
import os
import tempfile
import unittest

from profd_testing import pprof, run_profd, start_workload, top_rows

MUTEX_SPLIT = os.path.join(os.environ.get("WORKLOADS_DIR", ""), "mutex-split")


class MutexProfileTest(unittest.TestCase):
    def test_hot_lock_holds_the_waiting(self):
        p = start_workload([MUTEX_SPLIT, "60"])
        try:
            out = os.path.join(tempfile.mkdtemp(prefix="profd-mutex-"), "m.pb.gz")
            r = run_profd(["--pid", str(p.pid), "--type", "mutex", "--seconds", "3", "-o", out])
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            p.kill()
            p.wait()
        rows, text = top_rows(out, ["-sample_index=delay"])
        # By construction the hot lock is taken 100 times as often as the cold one.
        self.assertGreaterEqual(rows["contend_hot"][1], 90.0, text)
        # Whole stacks from the waiter through glibc's lock slow path (no frame pointers).
        self.assertIn("__pthread_mutex_lock", rows, text)
        self.assertIn("worker", rows, text)
        self.assertIn("contentions/count delay/nanoseconds", pprof(["-raw", out]))


if __name__ == "__main__":
    unittest.main()
