"""Bad input and hostile conditions: each gets a clear message and a non-zero exit, and loses nothing."""
import os
import shutil
import subprocess
import tempfile
import unittest

from profd_testing import CPU_SPLIT, PROFD, run_profd, start_workload


class CpuErrorsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="profd-err-")

    def test_pid_that_does_not_exist(self):
        r = run_profd(["--pid", "4194303", "--seconds", "1"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("no process with pid 4194303", r.stderr)

    def test_kernel_thread(self):
        r = run_profd(["--pid", "2", "--seconds", "1"])  # kthreadd
        self.assertEqual(r.returncode, 1)
        self.assertIn("kernel thread", r.stderr)

    def test_unknown_type(self):
        r = run_profd(["--pid", "1", "--type", "cycles"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown profile type 'cycles'", r.stderr)
        self.assertIn("cpu, heap, allocs", r.stderr)

    def test_bad_durations(self):
        for bad, why in (("0", "longer than zero"), ("-1", "longer than zero"),
                         ("100000000", "longer than one day"), ("soon", "not a duration")):
            r = run_profd(["--pid", "1", "--seconds", bad])
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn(why, r.stderr)

    def test_unwritable_output_fails_before_profiling(self):
        p = start_workload([CPU_SPLIT, "30"])
        try:
            r = run_profd(["--pid", str(p.pid), "--seconds", "30", "-o", "/nonexistent/dir/x.pb.gz"],
                          timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot write the profile to /nonexistent/dir/x.pb.gz", r.stderr)
            self.assertIsNone(p.poll(), "the target must keep running")
        finally:
            p.kill()
            p.wait()

    def test_output_is_a_directory(self):
        r = run_profd(["--pid", str(os.getpid()), "--seconds", "1", "-o", self.dir])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a directory", r.stderr)

    def test_missing_privileges(self):
        setpriv = shutil.which("setpriv")
        self.assertIsNotNone(setpriv, "setpriv (util-linux) is needed for this test")
        r = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", PROFD, "--pid", str(os.getpid()), "--seconds", "1",
                            "-o", "/tmp/never.pb.gz"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("CAP_BPF", r.stderr)
        self.assertIn("root", r.stderr)

    def test_cmdline(self):
        p = start_workload([CPU_SPLIT, "30", "name-arg"])
        try:
            out = os.path.join(self.dir, "cmdline")
            r = run_profd(["--pid", str(p.pid), "--type", "cmdline", "-o", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), b"\0".join([CPU_SPLIT.encode(), b"30", b"name-arg"]))
        finally:
            p.kill()
            p.wait()


if __name__ == "__main__":
    unittest.main()
