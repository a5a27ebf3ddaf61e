"""The daemon against callers it must not trust: local users other than root over loopback HTTP
and the control socket, binaries whose debug links point elsewhere, clients that hold connections,
repeated pids. Each test runs the real daemon and, where that is the point, the unprivileged user
(nobody)."""
import json
import struct
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

import test_control_socket
from profd_testing import CPU_SPLIT, PROFD, pprof
from test_control_socket import NOBODY
from test_daemon import Daemon
# A second unprivileged user (no passwd entry needed), e.g. a metrics scraper.
SCRAPER = ["setpriv", "--reuid=65533", "--regid=65533", "--clear-groups", "--inh-caps=-all"]

# GETs argv[1] (with an optional bearer token argv[2]) and prints {"status", "body"} as JSON.
_GET = r"""
import json, sys, urllib.error, urllib.request
headers = {"Authorization": "Bearer " + sys.argv[2]} if len(sys.argv) > 2 else {}
try:
    with urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers=headers),
                                timeout=60) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
print(json.dumps({"status": status, "body": body.decode("utf-8", "replace")}))
"""


def http_get(url, as_user=(), token=None):
    """(status, body text) of a GET, sent by a process of `as_user` (a setpriv prefix)."""
    argv = list(as_user) + [sys.executable, "-c", _GET, url] + ([token] if token else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("GET %s failed: %s" % (url, r.stderr))
    answer = json.loads(r.stdout)
    return answer["status"], answer["body"]


class SecurityTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="profd-security-")
        os.chmod(self.dir, 0o755)
        self.daemons = []
        self.workloads = []

    tearDown = test_control_socket.ControlSocketTest.tearDown
    workload = test_control_socket.ControlSocketTest.workload

    def daemon(self, extra_config=""):
        d = Daemon(Daemon.NO_SCHEDULE + extra_config).wait_ready()
        self.daemons.append(d)
        return d

    def test_loopback_http_profiles_only_the_callers_own_processes(self):
        d = self.daemon()
        root_owned = self.workload([CPU_SPLIT, "60"])
        own = self.workload(NOBODY + [CPU_SPLIT, "60"])
        goroutine = "/debug/pprof/goroutine?debug=1&pid=%d"

        status, body = http_get(d.url(goroutine % root_owned.pid), NOBODY)
        self.assertEqual(status, 403, body)
        self.assertIn("pid %d belongs to root (uid 0)" % root_owned.pid, body)
        status, body = http_get(d.url("/debug/pprof/cmdline?pid=%d" % root_owned.pid), NOBODY)
        self.assertEqual(status, 403, body)
        status, body = http_get(d.url("/debug/pprof/profile?seconds=1"), NOBODY)
        self.assertEqual(status, 403, body)
        self.assertIn("whole host needs root", body)
        self.assertIn("(uid 65534)", d.log())  # the log says who asked

        # Its own process, and the open endpoints.
        status, body = http_get(d.url(goroutine % own.pid), NOBODY)
        self.assertEqual(status, 200, body)
        self.assertIn("goroutine profile", body)
        for path in ("/metrics", "/debug/pprof/"):
            status, body = http_get(d.url(path), NOBODY)
            self.assertEqual(status, 200, body)
        # Root may profile anything.
        status, body = http_get(d.url(goroutine % own.pid))
        self.assertEqual(status, 200, body)

    def test_the_admin_group_may_profile_anything(self):
        d = self.daemon("security:\n  admin_group: nogroup\n")
        root_owned = self.workload([CPU_SPLIT, "60"])
        url = d.url("/debug/pprof/goroutine?debug=1&pid=%d" % root_owned.pid)
        status, body = http_get(url, NOBODY)  # nobody's group is nogroup
        self.assertEqual(status, 200, body)
        status, body = http_get(url, SCRAPER)
        self.assertEqual(status, 403, body)

    def test_a_bearer_token_acts_as_root(self):
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write("s3cret\n")
        os.chmod(token_file, 0o600)
        d = self.daemon("token_file: %s\n" % token_file)
        root_owned = self.workload([CPU_SPLIT, "60"])
        url = d.url("/debug/pprof/goroutine?debug=1&pid=%d" % root_owned.pid)
        status, body = http_get(url, NOBODY, token="s3cret")
        self.assertEqual(status, 200, body)
        status, body = http_get(url, NOBODY)
        self.assertEqual(status, 401, body)


    def debuglinked_workload(self, link_name, debug_files=()):
        """Copies cpu-split into a directory nobody owns, its DWARF moved out and its
        .gnu_debuglink set to `link_name` (any bytes, as a corrupt or hostile binary may hold)
        with the real debug file's CRC; places the debug file at each of `debug_files`; runs the
        copy as nobody."""
        work = os.path.join(self.dir, "bin")
        os.makedirs(work, exist_ok=True)
        binary = os.path.join(work, "cpu-split")
        debug = os.path.join(self.dir, "cpu-split.debug")
        subprocess.run(["objcopy", "--only-keep-debug", CPU_SPLIT, debug], check=True)
        with open(debug, "rb") as f:
            crc = zlib.crc32(f.read())
        section = link_name.encode() + b"\0"
        section += b"\0" * (-len(section) % 4) + struct.pack("<I", crc)
        with open(os.path.join(self.dir, "link"), "wb") as f:
            f.write(section)
        subprocess.run(["objcopy", "--strip-debug", "--add-section",
                        ".gnu_debuglink=" + os.path.join(self.dir, "link"), CPU_SPLIT, binary],
                       check=True)
        for path in debug_files:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy(debug, path)
        for root, dirs, files in os.walk(work):
            for name in dirs + files:
                os.chown(os.path.join(root, name), 65534, 65534)
        os.chown(work, 65534, 65534)
        return self.workload(NOBODY + [binary, "60"])

    def goroutine_text(self, d, pid, timeout=60):
        status, _, body = d.get("/debug/pprof/goroutine?debug=1&pid=%d" % pid, timeout=timeout)
        self.assertEqual(status, 200, body)
        return body.decode()

    def test_a_debug_link_cannot_name_a_file_outside_the_standard_places(self):
        # A debug file only root can read, which the link reaches by "..".
        secret = os.path.join(self.dir, "secret")
        os.mkdir(secret, 0o700)
        escape = "../secret/cpu-split.debug"
        p = self.debuglinked_workload(escape, [os.path.join(secret, "cpu-split.debug")])
        os.chmod(os.path.join(secret, "cpu-split.debug"), 0o600)
        d = self.daemon()
        text = self.goroutine_text(d, p.pid)
        self.assertIn("main", text)
        self.assertNotIn("cpu_split.c", text)  # the secret file's DWARF was not read

        # The same file by a bare name beside the binary is found (its CRC matches)...
        p2 = self.debuglinked_workload("cpu-split.debug",
                                       [os.path.join(self.dir, "bin", "cpu-split.debug")])
        self.assertIn("cpu_split.c", self.goroutine_text(d, p2.pid))

    def test_a_debug_file_that_does_not_match_the_link_is_not_used(self):
        p = self.debuglinked_workload("cpu-split.debug")
        # The program's own DWARF, without a build id and changed, so its CRC is not the link's.
        path = os.path.join(self.dir, "bin", "cpu-split.debug")
        subprocess.run(["objcopy", "--only-keep-debug", "--remove-section=.note.gnu.build-id",
                        CPU_SPLIT, path], check=True)
        with open(path, "ab") as f:
            f.write(b"changed")
        d = self.daemon()
        text = self.goroutine_text(d, p.pid)
        self.assertIn("main", text)
        self.assertNotIn("cpu_split.c", text)

    def test_a_fifo_named_by_a_debug_link_does_not_hang_the_request(self):
        p = self.debuglinked_workload("cpu-split.debug")
        os.mkfifo(os.path.join(self.dir, "bin", "cpu-split.debug"))
        os.mkdir(os.path.join(self.dir, "bin", ".debug"))
        os.mkfifo(os.path.join(self.dir, "bin", ".debug", "cpu-split.debug"))
        d = self.daemon()
        start = time.monotonic()
        text = self.goroutine_text(d, p.pid, timeout=20)
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn("main", text)


    def test_a_fifo_given_as_the_binary_does_not_hang_the_symbolizer(self):
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)
        r = subprocess.run([PROFD, "--symbolize", fifo], input="0x1000\n", capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is not a regular file", r.stderr)

    def test_a_repeated_pid_is_one_target_and_pids_are_bounded(self):
        d = self.daemon()
        p = self.workload([CPU_SPLIT, "60"])  # one thread
        status, _, body = d.get("/debug/pprof/goroutine?debug=1&pid=" + ",".join([str(p.pid)] * 50))
        self.assertEqual(status, 200, body)
        text = body.decode()
        self.assertIn("1 threads", text.splitlines()[1])
        self.assertEqual(text.count("# label tid="), 1, text)
        status, _, body = d.get("/debug/pprof/profile?seconds=1&pid=" +
                                ",".join(str(i) for i in range(1, 300)))
        self.assertEqual(status, 400, body)
        self.assertIn(b"more than 256", body)


    def test_a_killed_cli_leaves_no_temporary_file(self):
        p = self.workload([CPU_SPLIT, "60"])
        out_dir = os.path.join(self.dir, "out")
        os.mkdir(out_dir)
        out = os.path.join(out_dir, "cpu.pb.gz")
        env = dict(os.environ, PROFD_SOCKET=os.path.join(self.dir, "no-daemon.sock"))
        argv = [PROFD, "--pid", str(p.pid), "--seconds", "4", "-o", out, "-q"]
        # Killed mid-window: nothing was ever named in the directory.
        cli = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.5)
        self.assertEqual(os.listdir(out_dir), [])
        cli.kill()
        cli.wait()
        self.assertEqual(os.listdir(out_dir), [])
        # Left to finish, the output appears whole (and replaces a file there before).
        with open(out, "w") as f:
            f.write("old")
        cli = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        time.sleep(2.5)
        self.assertEqual(os.listdir(out_dir), ["cpu.pb.gz"])
        stdout, stderr = cli.communicate(timeout=60)
        self.assertEqual(cli.returncode, 0, stderr)
        self.assertEqual(os.listdir(out_dir), ["cpu.pb.gz"])
        self.assertIn("hot_function", pprof(["-top", out]))


    def hold_idle_connections(self, count, address, as_user=NOBODY):
        """Opens `count` connections to `address` (a (host, port) or a Unix socket path) as
        `as_user` and sends nothing on them; returns the holder once all are open."""
        script = (
            "import socket, sys, time\n"
            "address = eval(sys.argv[1])\n"
            "family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET\n"
            "held = []\n"
            "for _ in range(int(sys.argv[2])):\n"
            "    s = socket.socket(family)\n"
            "    s.connect(address)\n"
            "    held.append(s)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
        holder = subprocess.Popen(list(as_user) + [sys.executable, "-c", script, repr(address),
                                                   str(count)],
                                  stdout=subprocess.PIPE, text=True)
        self.workloads.append(holder)
        self.assertEqual(holder.stdout.readline(), "ready\n")
        return holder

    def test_idle_connections_of_one_user_shut_out_neither_root_nor_metrics(self):
        socket_path = os.path.join(self.dir, "run", "profd.sock")
        d = self.daemon("socket_path: %s\n" % socket_path)
        p = self.workload([CPU_SPLIT, "60"])
        # The head deadline: a client that sends nothing is closed after 3 s (not 10).
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", d.port)) as idle:
            idle.settimeout(20)
            self.assertEqual(idle.recv(100), b"")
        self.assertLess(time.monotonic() - start, 5)

        # Over HTTP: 40 idle connections from nobody, then root and a scraper are served at once.
        self.hold_idle_connections(40, ("127.0.0.1", d.port))
        start = time.monotonic()
        status, body = http_get(d.url("/debug/pprof/goroutine?debug=1&pid=%d" % p.pid))
        self.assertEqual(status, 200, body)
        status, body = http_get(d.url("/metrics"), SCRAPER)
        self.assertEqual(status, 200, body)
        status, body = http_get(d.url("/metrics"))
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - start, 2.5)  # before the idle ones time out
        # nobody holds its quarter of the 24 slots, and one kept for /metrics; the rest were
        # refused at once.
        busy = re.search(r'profd_connections_refused_total\{listener="http",why="busy"\} (\d+)',
                         body)
        self.assertEqual(int(busy.group(1)), 40 - 6 - 1, body)

        # Over the control socket: 20 idle clients of nobody, then root's `profd --pid`.
        self.hold_idle_connections(20, socket_path)
        out = os.path.join(self.dir, "threads.pb.gz")
        r = subprocess.run([PROFD, "--pid", str(p.pid), "--type", "goroutine", "-o", out, "-v"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PROFD_SOCKET=socket_path))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("asking the profd daemon on", r.stderr)
        self.assertNotIn("no profd daemon", r.stderr)
        served = [l for l in d.log().splitlines()
                  if "unix:pid=" in l and "goroutine profile of pid %d" % p.pid in l]
        self.assertTrue(served, d.log())


    def test_a_bad_configuration_is_said_in_words_and_stops_after_twenty_problems(self):
        for text, expected in [
                ("listen: 127.0.0.1:0\nfrequency_hz: 9\0" "9\n", r"profd\.yaml:2:16: a NUL byte"),
                ("store:\n  directory: /var/\xff\n", r"profd\.yaml:2:19: byte 0xFF is not UTF-8"),
                ("schedule: " + "[" * 5000 + "]" * 5000 + "\n",
                 r"nested 500 deep.*nests at most 3 levels")]:
            d = Daemon(None, args=["--config", self.write_config(text)])
            self.daemons.append(d)
            self.assertEqual(d.proc.wait(10), 2, d.log())
            self.assertRegex(d.log(), expected)
        many = "".join("key%d: 1\n" % i for i in range(20000))
        start = time.monotonic()
        d = Daemon(None, args=["--config", self.write_config(many)])
        self.daemons.append(d)
        self.assertEqual(d.proc.wait(10), 2, d.log())
        self.assertLess(time.monotonic() - start, 3)
        self.assertEqual(d.log().count("unknown key"), 20)
        self.assertIn("and more problems (only the first 20 are shown)", d.log())

    def write_config(self, text):
        path = os.path.join(self.dir, "profd.yaml")
        with open(path, "wb") as f:
            f.write(text.encode("latin-1") if "\xff" in text else text.encode())
        return path


if __name__ == "__main__":
    unittest.main()
