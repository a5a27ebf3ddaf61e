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


# GETs argv[1] and writes the body to argv[2]; prints the status.
_GET_TO_FILE = r"""
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=60) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
open(sys.argv[2], "wb").write(body)
print(status)
"""

KERNEL_HALF = 0xffff800000000000


def kernel_half_values(text):
    """The hex numbers of `text` that are kernel addresses."""
    return sorted({v for v in (int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{1,16})\b", text))
                   if v >= KERNEL_HALF} |
                  {int(h, 16) for h in re.findall(r"\b(ffff[89a-fA-F][0-9a-fA-F]{11})\b", text)})


def raw_kernel_functions(raw):
    """Names of the functions at kernel addresses in `go tool pprof -raw` output."""
    names = set()
    for line in raw.splitlines():
        m = re.match(r"\s*\d+: 0x([0-9a-f]+) M=\d+ (\S+)", line)
        if m and int(m.group(1), 16) >= KERNEL_HALF:
            names.add(m.group(2))
    return names


# Spins and sleeps in turn in a function of its own: `before_exec` for argv[1] seconds, then it
# execs argv[2] (argv[3...] its arguments); with no argv[2] it is the set-user-ID program, in
# `setuid_spin`, for 20 s.
_SPIN_THEN_EXEC = r"""
#include <time.h>
#include <stdlib.h>
#include <unistd.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
__attribute__((noinline)) static void spin_and_sleep(double seconds) {
  const double end = now() + seconds;
  volatile unsigned long x = 0;
  while (now() < end) {
    const double slice = now() + 0.005;
    while (now() < slice) x++;
    usleep(5000);
  }
}
__attribute__((noinline)) void before_exec(double seconds) { spin_and_sleep(seconds); }
__attribute__((noinline)) void setuid_spin(double seconds) { spin_and_sleep(seconds); }
int main(int argc, char **argv) {
  if (argc < 3) { setuid_spin(20); return 0; }
  before_exec(atof(argv[1]));
  execv(argv[2], argv + 2);
  return 1;
}
"""


def setuid_capable_dir(parent_candidates):
    """A new directory (mode 0755) on a filesystem mounted without nosuid, or None."""
    for parent in parent_candidates:
        if not os.path.isdir(parent):
            continue
        options = subprocess.run(["findmnt", "-no", "OPTIONS", "-T", parent],
                                 capture_output=True, text=True).stdout
        if "nosuid" in options.split(","):
            continue
        path = tempfile.mkdtemp(prefix="profd-setuid-", dir=parent)
        os.chmod(path, 0o755)
        return path
    return None


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


    def test_kernel_addresses_reach_root_alone(self):
        # A syscall loop: most of its time is in kernel functions.
        sock = os.path.join(self.dir, "profd.sock")
        d = self.daemon("socket_path: %s\n" % sock)
        own = self.workload(NOBODY + ["dd", "if=/dev/zero", "of=/dev/null", "bs=1"])
        out = os.path.join(self.dir, "out")
        os.makedirs(out)
        os.chown(out, 65534, 65534)
        query = "/debug/pprof/profile?seconds=3&pid=%d" % own.pid

        # Root sees the kernel's addresses, so they are there to hide.
        root_path = os.path.join(out, "root.pb.gz")
        status, _, body = d.get(query)
        self.assertEqual(status, 200, body)
        with open(root_path, "wb") as f:
            f.write(body)
        root_raw = pprof(["-raw", root_path])
        kernel_functions = raw_kernel_functions(root_raw)
        self.assertIn("do_syscall_64", kernel_functions, root_raw)
        self.assertTrue(kernel_half_values(root_raw))

        def check_hidden(path, text_forms=()):
            raw = pprof(["-raw", path])
            self.assertEqual(kernel_half_values(raw), [], raw)
            self.assertIn("kernel addresses hidden", raw)
            # Still the kernel's functions, each its own (stand-ins keep locations apart).
            top = pprof(["-top", "-nodecount=500", path])
            traces = pprof(["-traces", path])
            self.assertIn("do_syscall_64", top)
            shown = {name for name in kernel_functions if re.search(r"\s%s\s*$" % re.escape(name),
                                                                    top, re.M)}
            self.assertGreaterEqual(len(shown), min(3, len(kernel_functions)), top)
            self.assertEqual(kernel_half_values(traces), [], traces)
            for text in text_forms:
                self.assertEqual(kernel_half_values(text), [], text)
                self.assertIn("do_syscall_64", text)

        # nobody over loopback HTTP: the profile and its debug=1 text.
        http_path = os.path.join(out, "http.pb.gz")
        r = subprocess.run(NOBODY + [sys.executable, "-c", _GET_TO_FILE, d.url(query), http_path],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.stdout.strip(), "200", r.stderr)
        status, text = http_get(d.url(query + "&debug=1"), NOBODY)
        self.assertEqual(status, 200, text)
        status, dump = http_get(d.url("/debug/pprof/goroutine?debug=2&pid=%d" % own.pid), NOBODY)
        self.assertEqual(status, 200, dump)
        self.assertEqual(kernel_half_values(dump), [], dump)
        check_hidden(http_path, [text])

        # nobody through the control socket (the CLI asking the daemon).
        cli_path = os.path.join(out, "cli.pb.gz")
        # (Not quiet: its top table is printed from the profile it got.)
        r = subprocess.run(NOBODY + [PROFD, "--pid", str(own.pid), "--seconds", "3", "-o",
                                     cli_path, "--top", "30"], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, PROFD_SOCKET=sock))
        self.assertEqual(r.returncode, 0, r.stderr)
        check_hidden(cli_path)
        self.assertNotIn("internal error", d.log())
        # The CLI run by root, through the same socket, keeps them.
        root_cli_path = os.path.join(out, "root-cli.pb.gz")
        r = subprocess.run([PROFD, "--pid", str(own.pid), "--seconds", "2", "-o", root_cli_path,
                            "-q"], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PROFD_SOCKET=sock))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(kernel_half_values(pprof(["-raw", root_cli_path])))
        self.assertEqual(kernel_half_values(r.stdout + r.stderr), [])

        # security.kernel_frames: none leaves them out altogether.
        d.stop()
        d = self.daemon("socket_path: %s\nsecurity:\n  kernel_frames: none\n" % sock)
        none_path = os.path.join(out, "none.pb.gz")
        r = subprocess.run(NOBODY + [sys.executable, "-c", _GET_TO_FILE, d.url(query), none_path],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.stdout.strip(), "200", r.stderr)
        raw = pprof(["-raw", none_path])
        self.assertEqual(kernel_half_values(raw), [], raw)
        self.assertIn("kernel frames left out", raw)
        self.assertNotIn("do_syscall_64", raw)
        self.assertNotIn("kernel.kallsyms", raw)
        self.assertNotIn("internal error", d.log())

    def setuid_workload(self):
        """(spinner, setuid helper): the spinner, run as nobody, spins and sleeps in before_exec for
        the seconds it is given, then execs the set-user-ID-root helper, which does the same in setuid_spin."""
        work = setuid_capable_dir([tempfile.gettempdir(), "/var/tmp", os.path.dirname(PROFD)])
        if not work:
            self.skipTest("no filesystem here honours set-user-ID")
        self.addCleanup(shutil.rmtree, work, True)
        source = os.path.join(work, "spin.c")
        with open(source, "w") as f:
            f.write(_SPIN_THEN_EXEC)
        spinner = os.path.join(work, "spin-then-exec")
        subprocess.run(["cc", "-O1", "-g", "-o", spinner, source], check=True)
        helper = os.path.join(work, "setuid-spin")
        shutil.copy(spinner, helper)
        os.chown(helper, 0, 0)
        os.chmod(helper, 0o4755)
        # The same, set-group-ID root's group: the uids stay nobody's.
        self.setgid_helper = os.path.join(work, "setgid-spin")
        shutil.copy(spinner, self.setgid_helper)
        os.chown(self.setgid_helper, 0, 0)
        os.chmod(self.setgid_helper, 0o2755)
        return spinner, helper

    def test_a_target_that_execs_a_setuid_program_stops_being_profiled(self):
        sock = os.path.join(self.dir, "profd.sock")
        d = self.daemon("socket_path: %s\n" % sock)
        spinner, helper = self.setuid_workload()
        out = os.path.join(self.dir, "out")
        os.makedirs(out)
        os.chown(out, 65534, 65534)
        check = self.workload(NOBODY + [spinner, "0", helper])
        time.sleep(0.5)
        with open("/proc/%d/status" % check.pid) as f:
            uids = re.search(r"^Uid:\s+(.*)$", f.read(), re.M).group(1).split()
        self.assertEqual(uids[1], "0", "the helper did not run set-user-ID root")

        def functions(path):
            return pprof(["-top", "-nodecount=1000", path])

        def assert_only_before_the_exec(path):
            # Every sample is the spinner's own: in before_exec, or in the exec call itself.
            # (Samples taken after the exec would not show setuid_spin by name: profd stops
            # reading the target's mappings once it changed hands.)
            traces = [t for t in pprof(["-traces", path]).split("-----------+" + "-" * 55)[1:]
                      if t.strip()]
            self.assertTrue(traces)
            others = [t for t in traces if not re.search(r"before_exec|execv", t)]
            self.assertEqual(others, [], "samples after the exec")

        def requested(kind, as_nobody, exec_helper=helper):
            """The profile of a fresh spinner, asked for as it starts: cpu over loopback HTTP,
            block through the control socket."""
            # 3 s before the exec: on a loaded host loading the BPF programs (the block program's
            # verification alone takes 160k instructions) once took most of 2 s of it.
            target = self.workload(NOBODY + [spinner, "3.0", exec_helper])
            path = os.path.join(out, "%s-%s.pb.gz" % (kind, "nobody" if as_nobody else "root"))
            if kind == "cpu":
                url = d.url("/debug/pprof/profile?seconds=4&pid=%d" % target.pid)
                r = subprocess.run((NOBODY if as_nobody else []) +
                                   [sys.executable, "-c", _GET_TO_FILE, url, path],
                                   capture_output=True, text=True, timeout=120)
                self.assertEqual(r.stdout.strip(), "200", r.stderr)
            else:
                r = subprocess.run((NOBODY if as_nobody else []) +
                                   [PROFD, "--pid", str(target.pid), "--type", kind, "--seconds",
                                    "4", "-o", path, "-q"], capture_output=True, text=True,
                                   timeout=120, env=dict(os.environ, PROFD_SOCKET=sock))
                # Written, but partial for nobody: the target stopped being its own.
                self.assertEqual(r.returncode, 3 if as_nobody else 0, r.stderr)
                if as_nobody:
                    self.assertIn("stopped being yours", r.stderr)
            return target.pid, path

        for kind in ("cpu", "block"):
            pid, path = requested(kind, as_nobody=True)
            top = functions(path)
            self.assertIn("before_exec", top)
            self.assertNotIn("setuid_spin", top)
            assert_only_before_the_exec(path)
            self.assertIn("pid %d's credentials changed" % pid, top)
            self.assertIn("samples from then on are left out", top)
            self.assertIn("pid %d's credentials changed" % pid, d.log())

            # Root's requests are unaffected: the set-user-ID program is root's to see.
            # (Its samples from before the exec are symbolized against the new program's
            # mappings, so before_exec is not looked for here; and a set-user-ID exec ends the
            # per-thread perf events block is counted with, in the kernel, for root too.)
            pid, path = requested(kind, as_nobody=False)
            top = functions(path)
            if kind == "cpu":
                self.assertIn("setuid_spin", top)
            self.assertNotIn("credentials changed", top)

        # A set-group-ID exec gains a group the user does not have: the same.
        pid, path = requested("cpu", as_nobody=True, exec_helper=self.setgid_helper)
        top = functions(path)
        self.assertIn("before_exec", top)
        self.assertNotIn("setuid_spin", top)
        assert_only_before_the_exec(path)
        self.assertIn("pid %d's credentials changed" % pid, top)
        self.assertNotIn("internal error", d.log())

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
