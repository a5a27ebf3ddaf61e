"""`profd --pid ...` through the running daemon's control socket (PROFD_SOCKET): the profile it would
have written itself, only the caller's own processes for a user other than root (peer credentials),
and profiling in its own process when no daemon answers."""
import os
import shutil
import subprocess
import tempfile
import unittest

from profd_testing import CPU_SPLIT, PROFD, start_workload, top_rows
from test_daemon import Daemon

# Runs a command as nobody, with no capabilities: what any unprivileged user can do.
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


class ControlSocketTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="profd-control-")
        os.chmod(self.dir, 0o755)  # nobody must reach the socket inside
        self.socket = os.path.join(self.dir, "run", "profd.sock")  # the daemon makes run/
        self.out = os.path.join(self.dir, "out")
        os.mkdir(self.out)
        os.chown(self.out, 65534, 65534)
        self.daemons = []
        self.workloads = []

    def tearDown(self):
        for p in self.workloads:
            p.kill()
            p.wait()
        for d in self.daemons:
            d.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def daemon(self, extra_config=""):
        config = Daemon.NO_SCHEDULE + "socket_path: %s\n%s" % (self.socket, extra_config)
        d = Daemon(config).wait_ready()
        self.daemons.append(d)
        self.assertTrue(os.path.exists(self.socket), d.log())
        return d

    def workload(self, argv):
        p = start_workload(argv)
        self.workloads.append(p)
        return p

    def profd(self, args, socket=None, as_nobody=False):
        env = dict(os.environ, PROFD_SOCKET=socket or self.socket)
        r = subprocess.run((NOBODY if as_nobody else []) + [PROFD] + args, capture_output=True,
                           text=True, timeout=120, env=env)
        self.assertNotIn("internal error", r.stderr)
        return r

    def assert_split(self, path):
        rows, text = top_rows(path, ["-sample_index=cpu"])
        hot, cold = rows["hot_function"][1], rows["cold_function"][1]
        share = hot / (hot + cold)
        self.assertGreater(share, 0.68, text)
        self.assertLess(share, 0.82, text)

    def test_cli_gets_its_profile_from_the_daemon(self):
        d = self.daemon("limits:\n  max_seconds: 10s\n")
        p = self.workload([CPU_SPLIT, "60"])
        out = os.path.join(self.out, "cpu.pb.gz")
        # 6 s at 99 Hz: about 600 samples, so the 3:1 bounds are 4 standard deviations wide (3 s
        # and 300 samples once gave 0.669 on a quiet host).
        r = self.profd(["--pid", str(p.pid), "--type", "cpu", "--seconds", "6", "-o", out, "-v"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("asking the profd daemon on " + self.socket, r.stderr)
        # What the CLI prints without the daemon: the path, then the top table.
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], out)
        self.assertIn("hot_function", r.stdout)
        self.assert_split(out)
        # The daemon served it, and says to whom.
        served = [l for l in d.log().splitlines() if "unix:pid=" in l and "pid %d" % p.pid in l]
        self.assertTrue(served, d.log())

        # The daemon's own limits are a usage error, with a way out.
        r = self.profd(["--pid", str(p.pid), "--seconds", "20", "-o", out + ".long"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("exceeds server's limit", r.stderr)
        self.assertIn("--no-daemon", r.stderr)
        self.assertFalse(os.path.exists(out + ".long"))

        # cmdline goes through the daemon too.
        r = self.profd(["--pid", str(p.pid), "--type", "cmdline"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, CPU_SPLIT + "\x0060")
        r = self.profd(["--pid", "4000000", "--type", "cpu", "--seconds", "1"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no process with pid 4000000", r.stderr)

    def test_a_user_other_than_root_profiles_only_its_own_processes(self):
        d = self.daemon()
        root_owned = self.workload([CPU_SPLIT, "60"])
        out = os.path.join(self.out, "refused.pb.gz")
        r = self.profd(["--pid", str(root_owned.pid), "--seconds", "1", "-o", out], as_nobody=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("pid %d belongs to root (uid 0)" % root_owned.pid, r.stderr)
        self.assertIn("only root may profile other users' processes", r.stderr)
        self.assertFalse(os.path.exists(out))
        r = self.profd(["--all", "--seconds", "1", "-o", out], as_nobody=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("whole host needs root", r.stderr)
        self.assertIn("refused", d.log())

        own = self.workload(NOBODY + [CPU_SPLIT, "60"])
        out = os.path.join(self.out, "own.pb.gz")
        r = self.profd(["--pid", str(own.pid), "--seconds", "6", "-o", out, "-q"], as_nobody=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, out + "\n")
        self.assertEqual(os.stat(out).st_uid, 65534)
        self.assert_split(out)

    def test_without_a_daemon_the_cli_profiles_in_its_own_process(self):
        p = self.workload([CPU_SPLIT, "60"])
        out = os.path.join(self.out, "standalone.pb.gz")
        r = self.profd(["--pid", str(p.pid), "--seconds", "6", "-o", out, "-v"],
                       socket=os.path.join(self.dir, "missing.sock"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no profd daemon on", r.stderr)
        self.assertEqual(r.stdout.splitlines()[0], out)
        self.assert_split(out)


if __name__ == "__main__":
    unittest.main()
