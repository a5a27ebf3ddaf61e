"""threadcreate profiles through the real task_newtask program, checked with `go tool pprof`."""
import os
import re
import tempfile
import unittest

from profd_testing import pprof, run_profd, start_workload, top_rows

THREAD_SPLIT = os.path.join(os.environ.get("WORKLOADS_DIR", ""), "thread-split")


class ThreadCreateProfileTest(unittest.TestCase):
    def test_four_threads_and_one(self):
        # The workload waits 1 s before creating threads, so profd is attached when they come.
        p = start_workload([THREAD_SPLIT, "1", "60"])
        try:
            out = os.path.join(tempfile.mkdtemp(prefix="profd-tc-"), "tc.pb.gz")
            r = run_profd(["--pid", str(p.pid), "--type", "threadcreate", "--seconds", "3",
                           "-o", out])
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            p.kill()
            p.wait()
        rows, text = top_rows(out)
        self.assertEqual(rows["create_four_threads"][1], 80.0, text)
        self.assertEqual(rows["create_one_thread"][1], 20.0, text)
        self.assertEqual(rows["main"][1], 100.0, text)
        self.assertRegex(text, r"Total samples = 5\s", text)
        self.assertIn("threadcreate/count", pprof(["-raw", out]))


if __name__ == "__main__":
    unittest.main()
