"""Launch mode, `profd [options] -- COMMAND ARGS`: the command runs under profd from its first
instruction to its exit, with its exit status passed on, checked through `go tool pprof`."""
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from profd_testing import CPU_SPLIT, PROFD, flat_count, pprof, top_rows
from test_daemon import Daemon

WORKLOADS = os.environ.get("WORKLOADS_DIR", "")
HEAP_SPLIT = os.path.join(WORKLOADS, "heap-split")
JEMALLOC_API = os.path.join(WORKLOADS, "jemalloc-api")
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def out_path(name="launch.pb.gz"):
    return os.path.join(tempfile.mkdtemp(prefix="profd-launch-"), name)


def launch(options, command, env=None, timeout=120):
    """Runs profd OPTIONS -o OUT -- COMMAND; returns (result, OUT)."""
    out = out_path()
    r = subprocess.run([PROFD] + options + ["-o", out, "--"] + command, capture_output=True,
                       text=True, timeout=timeout, env=env)
    if "internal error" in r.stderr:
        raise AssertionError("profd reported an internal error: " + r.stderr)
    return r, out


def flat_value(top_text, function):
    """The flat value of `function` in `go tool pprof -top` text (B units or counts)."""
    for line in top_text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and " ".join(fields[5:]) == function:
            return float(fields[0].rstrip("B"))
    raise AssertionError(function + " not in\n" + top_text)


def assert_whole_cpu_split_run(test, out):
    """`cpu-split 3` profiled from start to exit: 3:1, every stack through main and libc's start,
    the exit noted as the end, the window about its 3 s."""
    rows, text = top_rows(out)
    test.assertAlmostEqual(rows["hot_function"][1], 75, delta=7, msg=text)
    test.assertAlmostEqual(rows["cold_function"][1], 25, delta=7, msg=text)
    test.assertGreaterEqual(rows["main"][1], 98, text)
    test.assertGreaterEqual(rows["__libc_start_call_main"][1], 98, text)
    comments = pprof(["-comments", out])
    test.assertRegex(comments, r"launched by profd: \S*cpu-split 3; it exited with status 0",
                     comments)
    test.assertNotIn("into the", comments)  # its exit is the end, not an early one
    # The window ran to the exit, about 3 s, not to a default duration.
    duration = float(text.split("Duration: ")[1].split("s")[0])
    test.assertTrue(2.8 <= duration <= 7, text)


def drain(master):
    """Reads what the terminal has, so the command never blocks on a full terminal."""
    try:
        while select.select([master], [], [], 0)[0]:
            if not os.read(master, 4096):
                return
    except OSError:
        pass


class OnTerminal:
    """profd run on a pseudo-terminal, for Ctrl-C."""

    def run_on_terminal(self, sigint_trap, env=None):
        """Starts profd -o OUT -- sh, a shell with the SIGINT trap `sigint_trap` spinning, on a new
        pseudo-terminal (its controlling terminal, both in its foreground process group, as a
        shell runs them); returns (pid, master fd, OUT) once the shell runs."""
        out = out_path()
        marker = out + ".running"
        command = ["sh", "-c", "trap %s INT; touch %s; while :; do :; done" % (sigint_trap, marker)]
        pid, master = pty.fork()
        if pid == 0:
            os.execve(PROFD, [PROFD, "--type", "cpu", "-o", out, "--"] + command,
                      env or os.environ)
        deadline = time.time() + 20
        while not os.path.exists(marker) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        return pid, master, out

    def wait_exit(self, pid, master, timeout):
        deadline = time.time() + timeout
        output = b""
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    output += os.read(master, 4096)
                except OSError:
                    pass
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), output.decode(errors="replace")
        os.kill(pid, signal.SIGKILL)
        self.fail("profd did not exit within %d s: %s" % (timeout, output))


    def second_ctrl_c_stops_profiling(self, env=None):
        # A command that ignores SIGINT: the second Ctrl-C stops profiling and writes the profile;
        # profd still waits for the command, which the test then ends.
        pid, master, out = self.run_on_terminal("''", env)
        os.write(master, b"\x03")
        time.sleep(0.3)
        os.write(master, b"\x03")
        deadline = time.time() + 30
        while not os.path.exists(out) and time.time() < deadline:
            drain(master)
            time.sleep(0.1)
        self.assertTrue(os.path.exists(out), "no profile after the second Ctrl-C")
        self.assertEqual(os.waitpid(pid, os.WNOHANG)[0], 0)  # profd waits for its command
        subprocess.run(["pkill", "-KILL", "-P", str(pid)])
        code, output = self.wait_exit(pid, master, 30)
        self.assertEqual(code, 128 + signal.SIGKILL, output)
        rows, text = top_rows(out)
        self.assertGreater(len(rows), 0, text)
        self.assertIn("profiling was stopped after", pprof(["-comments", out]))
        return output


class LaunchTest(OnTerminal, unittest.TestCase):
    def test_cpu_split_from_start_to_exit(self):
        # cpu-split works 3:1 in hot_function and cold_function for 3 s; every stack reaches
        # main through libc, whose frames are named though the command has exited when the
        # profile is built (its /proc/PID/root is gone by then).
        r, out = launch(["--type", "cpu"], [CPU_SPLIT, "3"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rounds_per_second", r.stdout)  # the command's output stays its own
        self.assertIn(out, r.stderr)
        assert_whole_cpu_split_run(self, out)

    def test_exit_status_is_the_commands(self):
        r, out = launch(["--type", "cpu"], ["sh", "-c", "exit 7"])
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assertIn("exited with status 7", pprof(["-comments", out]))

    def test_killed_by_signal_gives_128_plus_n_and_a_profile(self):
        r, out = launch(["--type", "cpu"],
                        ["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; "
                                     "kill -SEGV $$"])
        self.assertEqual(r.returncode, 139, r.stderr)
        self.assertIn("SIGSEGV", r.stderr)
        rows, text = top_rows(out)
        self.assertGreater(len(rows), 0, text)
        self.assertIn("killed by signal 11", pprof(["-comments", out]))

    def test_command_that_cannot_run(self):
        r, out = launch(["--type", "cpu"], ["/nonexistent/command"])
        self.assertEqual(r.returncode, 127, r.stderr)
        self.assertIn("No such file", r.stderr)
        self.assertFalse(os.path.exists(out))

    def test_allocations_counted_from_the_first_line(self):
        # heap-split's "kinds" makes its 100 calls of each allocation function as soon as main
        # starts (no delay). The allocator is in libc, which the loader maps after the exec: its
        # probes must be attached before main runs for every call to count.
        r, out = launch(["--type", "allocs", "--sample-rate", "1", "--max-overhead", "100"],
                        [HEAP_SPLIT, "kinds", "0", "0"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, text = top_rows(out, ["-sample_index=alloc_objects"])
        for site in ["use_calloc", "use_realloc", "use_reallocarray", "use_posix_memalign",
                     "use_aligned_alloc", "use_memalign", "use_valloc"]:
            self.assertEqual(flat_count(text, site), 100, site + "\n" + text)
        # C++'s new reaches the sampler through libstdc++'s operator new, which calls malloc.
        traces = pprof(["-traces", "-sample_index=alloc_objects", out])
        self.assertRegex(traces, r"\n\s+100\s+operator new\n\s+use_new\n", traces)

    def test_preload_sampler_passes_calls_on_to_the_programs_allocator(self):
        # With the user's own LD_PRELOAD=jemalloc, profd's sampler goes first and hands every call
        # on to jemalloc (which prints its statistics at exit, so it did allocate).
        self.assertTrue(os.path.exists(JEMALLOC), "libjemalloc2 is needed for this test")
        env = dict(os.environ, LD_PRELOAD=JEMALLOC, MALLOC_CONF="stats_print:true")
        r, out = launch(["--type", "allocs", "--sample-rate", "1"],
                        [HEAP_SPLIT, "kinds", "0", "0"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("jemalloc statistics", r.stderr)
        self.assertIn("profd's preload sampler", pprof(["-comments", out]))
        rows, text = top_rows(out, ["-sample_index=alloc_objects"])
        for site in ["use_calloc", "use_realloc", "use_reallocarray", "use_posix_memalign",
                     "use_aligned_alloc", "use_memalign", "use_valloc"]:
            self.assertEqual(flat_count(text, site), 100, site + "\n" + text)

    def test_jemallocs_own_api_is_sampled_too(self):
        # A program linked with jemalloc that calls mallocx, rallocx, sdallocx and dallocx (as
        # folly-based programs do): profd preloads the sampler's jemalloc variant, so those calls
        # count as malloc's do, and their frees end the blocks.
        r, out = launch(["--type", "heap", "--sample-rate", "1"], [JEMALLOC_API, "1000"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("libprofd_preload_jemalloc.so", pprof(["-comments", out]))
        _, text = top_rows(out, ["-sample_index=alloc_objects"])
        self.assertEqual(flat_count(text, "use_mallocx"), 2000, text)
        self.assertEqual(flat_count(text, "use_rallocx"), 1000, text)
        _, text = top_rows(out, ["-sample_index=alloc_space"])
        self.assertIn("4882.81kB", text)  # 1000 rallocx of 5000 B
        self.assertIn("390.62kB", text)   # 1000 mallocx of 100 B and 1000 of 300 B
        # Nothing is live at the exit: every block was freed through jemalloc's API.
        _, text = top_rows(out, ["-sample_index=inuse_objects"])
        self.assertNotIn("use_mallocx", text)
        self.assertNotIn("use_rallocx", text)

    def test_processes_the_command_starts_leave_the_preload_sampler(self):
        # allocs does not follow a tree: the shell profd launched samples, the shell it starts
        # (a child, which inherits LD_PRELOAD) stands aside and takes the sampler out of
        # LD_PRELOAD, so the grandchild, grep, does not load it at all.
        report = out_path("env.txt")
        inner = ("grep -c libprofd_preload /proc/self/maps > %s; "
                 "echo \"LD_PRELOAD=$LD_PRELOAD\" >> %s" % (report, report))
        r, out = launch(["--type", "allocs"],
                        ["sh", "-c", "sh -c '%s'; %s kinds 0 0" % (inner, HEAP_SPLIT)])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(report) as f:
            lines = f.read().split("\n")
        self.assertEqual(lines[0], "0", lines)  # grep's own maps: no sampler
        self.assertNotIn("libprofd_preload", lines[1])
        # The launched process itself is still sampled by the preload sampler.
        self.assertIn("profd's preload sampler", pprof(["-comments", out]))

    def test_allocations_at_the_default_rate_total_right(self):
        # heap-split's "sizes": malloc/free pairs of log-uniform sizes (16 B to 1 MiB) for 2 s from
        # main's first line, at the default rate (one sample per 512 KiB on average, drawn in the
        # process by the preload sampler); it prints the calls and bytes it made.
        r, out = launch(["--type", "allocs"], [HEAP_SPLIT, "sizes", "0", "2"])
        self.assertEqual(r.returncode, 0, r.stderr)
        calls, size = map(int, re.search(r"sizes: (\d+) calls (\d+) bytes", r.stdout).groups())
        rows, text = top_rows(out, ["-sample_index=alloc_space", "-unit=B"])
        space = flat_value(pprof(["-top", "-sample_index=alloc_space", "-unit=B", out]),
                           "mixed_sizes")
        self.assertAlmostEqual(space / size, 1, delta=0.1, msg=text)
        objects = flat_value(pprof(["-top", "-sample_index=alloc_objects", out]), "mixed_sizes")
        self.assertAlmostEqual(objects / calls, 1, delta=0.25, msg=text)
        self.assertIn("profd's preload sampler", pprof(["-comments", out]))

    def test_static_allocator_falls_back_to_probes(self):
        # A statically linked program's malloc is its own: the loader binds it before LD_PRELOAD's,
        # so its allocator is probed instead, and the profile says why.
        r, out = launch(["--type", "allocs", "--sample-rate", "1", "--max-overhead", "100"],
                        [HEAP_SPLIT + "-static", "kinds", "0", "0"])
        self.assertEqual(r.returncode, 0, r.stderr)
        comments = pprof(["-comments", out])
        self.assertRegex(comments, r"uprobes on .*heap-split-static \(launched with profd's "
                                   r"preload sampler, which is not the allocator", comments)
        rows, text = top_rows(out, ["-sample_index=alloc_objects"])
        self.assertEqual(flat_count(text, "use_calloc"), 100, text)

    def test_leak_is_in_heap_at_exit(self):
        # 1 s of heap-split's split: 3 x 64 KiB and 1 x 64 KiB freed, 32 KiB leaked per iteration.
        r, out = launch(["--type", "heap", "--sample-rate", "64KiB", "--max-overhead", "100"],
                        [HEAP_SPLIT, "split", "0", "1", "200"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, text = top_rows(out)
        self.assertIn("Type: inuse_space", text)
        self.assertGreaterEqual(rows["leak_some"][0], 95, text)

    def test_heap_at_exit_and_at_its_peak(self):
        # heap-split's "peak": transient_peak() holds 32 MiB and frees it, then 1 MiB leaks. At the
        # exit only the leak is live; at the peak of live sampled bytes, transient_peak's blocks.
        # At 16 KiB a 32 KiB block is sampled with p = 0.86: the leak's total is within 30%.
        r, out = launch(["--type", "heap", "--sample-rate", "16KiB"], [HEAP_SPLIT, "peak", "0", "0"])
        self.assertEqual(r.returncode, 0, r.stderr)
        at_exit = pprof(["-top", "-unit=B", out])
        peak = pprof(["-top", "-sample_index=peak_inuse_space", "-unit=B", out])
        self.assertAlmostEqual(flat_value(peak, "transient_peak") / (32 << 20), 1, delta=0.2,
                               msg=peak)
        self.assertAlmostEqual(flat_value(at_exit, "leak_some") / (1 << 20), 1, delta=0.3,
                               msg=at_exit)
        self.assertNotIn("transient_peak", at_exit.split("flat%")[1].split("main")[0])

    def test_several_types_of_one_run(self):
        # cpu, allocs, heap and block of one heap-split run (6:2:1 bytes, 1/9 leaked): one file
        # each, named from the -o prefix.
        prefix = os.path.join(tempfile.mkdtemp(prefix="profd-launch-"), "run")
        r = subprocess.run([PROFD, "--type", "cpu,allocs,heap,block", "--sample-rate", "64KiB",
                            "-o", prefix, "--", HEAP_SPLIT, "split", "0", "2", "200"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        for kind in ["cpu", "allocs", "heap", "block"]:
            self.assertTrue(os.path.exists(prefix + "-" + kind + ".pb.gz"), kind + r.stderr)
        rows, text = top_rows(prefix + "-allocs.pb.gz")
        self.assertAlmostEqual(rows["allocate_and_free_large"][0], 100 * 6 / 9, delta=6, msg=text)
        self.assertAlmostEqual(rows["leak_some"][0], 100 * 1 / 9, delta=4, msg=text)
        rows, text = top_rows(prefix + "-heap.pb.gz")
        self.assertGreaterEqual(rows["leak_some"][0], 95, text)
        rows, text = top_rows(prefix + "-block.pb.gz")
        self.assertGreaterEqual(rows["main"][1], 90, text)  # it sleeps between iterations
        for kind in ["cpu", "allocs", "heap", "block"]:
            self.assertIn("exited with status 0", pprof(["-comments", prefix + "-" + kind + ".pb.gz"]))

    def test_processes_the_command_starts_are_followed(self):
        # A shell script starting two workers: both are profiled, each under its own pid label,
        # their stacks whole (each exec's new libraries read within milliseconds of it).
        script = "%s 3 >/dev/null & %s 3 >/dev/null & wait" % (CPU_SPLIT, CPU_SPLIT)
        r, out = launch(["--type", "cpu"], ["sh", "-c", script])
        self.assertEqual(r.returncode, 0, r.stderr)
        tags = pprof(["-tags", "-tagfocus=comm=cpu-split", out])
        pids = re.findall(r"^\s+\S+ \(\s*[\d.]+%\): (\d+)$", tags.split(" pid:")[1].split("\n\n")[0],
                          re.M)
        self.assertEqual(len(pids), 2, tags)
        for pid in pids:  # shares of the total: within a pid, compared with each other
            rows, text = top_rows(out, ["-tagfocus=pid=" + pid])
            work = rows["hot_function"][1] + rows["cold_function"][1]
            self.assertGreater(work, 20, text)  # each worker had its share of the 2 CPUs
            self.assertGreaterEqual(rows["main"][1] / work, 0.9, text)
        rows, text = top_rows(out, ["-tagfocus=comm=cpu-split"])
        self.assertAlmostEqual(rows["hot_function"][1] / (rows["hot_function"][1] +
                                                          rows["cold_function"][1]), 0.75,
                               delta=0.07, msg=text)

    def test_no_follow_keeps_to_the_first_process(self):
        script = "%s 1 >/dev/null; true" % CPU_SPLIT
        r, out = launch(["--type", "cpu", "--no-follow"], ["sh", "-c", script])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("hot_function", pprof(["-top", out]))

    def test_wrapper_that_execs_the_program(self):
        # A wrapper script that execs the real program (as pyenv's shims and many launchers do):
        # the program's libraries, mapped by its loader after the exec, are read at once.
        r, out = launch(["--type", "cpu"], ["sh", "-c", "exec %s 3" % CPU_SPLIT])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, text = top_rows(out)
        self.assertAlmostEqual(rows["hot_function"][1], 75, delta=7, msg=text)
        self.assertGreaterEqual(rows["__libc_start_call_main"][1], 93, text)

    def test_ctrl_c_reaches_the_command(self):
        pid, master, out = self.run_on_terminal("'exit 5'")
        os.write(master, b"\x03")  # the terminal's Ctrl-C
        code, output = self.wait_exit(pid, master, 30)
        self.assertEqual(code, 5, output)  # the command's trap ran, and profd passed on its status
        self.assertIn("exited with status 5", pprof(["-comments", out]))

    def test_second_ctrl_c_stops_profiling(self):
        self.second_ctrl_c_stops_profiling()


# Runs a command as nobody, with no capabilities: what any unprivileged user can do.
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


class LaunchThroughDaemonTest(OnTerminal, unittest.TestCase):
    """The CLI holds the command at its loader's hook and asks the daemon (PROFD_SOCKET), which
    attaches the collectors and answers 102; the CLI lets the command go, and the daemon answers
    the profile at its exit."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="profd-launch-daemon-")
        os.chmod(cls.dir, 0o755)  # nobody must reach the socket inside
        cls.socket = os.path.join(cls.dir, "run", "profd.sock")
        cls.daemon = Daemon(Daemon.NO_SCHEDULE + "socket_path: %s\n" % cls.socket).wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def launch(self, options, command, as_nobody=False):
        out = tempfile.mkdtemp(prefix="out-", dir=self.dir)
        os.chmod(out, 0o777)
        prefix = os.path.join(out, "run")
        r = subprocess.run((NOBODY if as_nobody else []) + [PROFD] + options +
                           ["-o", prefix, "-v", "--"] + command, capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, PROFD_SOCKET=self.socket))
        self.assertNotIn("internal error", r.stderr)
        return r, prefix

    def assert_through_daemon(self, r, count=1):
        self.assertIn("launching through the profd daemon on " + self.socket, r.stderr)
        launches = re.findall(r"of a launched command, to its exit", self.daemon.log())
        self.assertGreaterEqual(len(launches), count, self.daemon.log())

    def test_cpu_split_from_start_to_exit(self):
        before = self.daemon.log().count("of a launched command")
        r, out = self.launch(["--type", "cpu"], [CPU_SPLIT, "3"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_through_daemon(r, before + 1)
        assert_whole_cpu_split_run(self, out)

    def test_exit_status_and_signals_are_the_commands(self):
        r, out = self.launch(["--type", "cpu"], ["sh", "-c", "exit 7"])
        self.assertEqual(r.returncode, 7, r.stderr)
        self.assert_through_daemon(r)
        self.assertIn("exited with status 7", pprof(["-comments", out]))
        r, out = self.launch(["--type", "cpu"],
                             ["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; "
                                          "kill -SEGV $$"])
        self.assertEqual(r.returncode, 139, r.stderr)
        self.assertIn("killed by signal 11", pprof(["-comments", out]))

    def test_a_user_launches_and_profiles_their_own_command(self):
        # nobody, with no capability: the daemon does the BPF work for the caller's own process.
        r, out = self.launch(["--type", "cpu"], [CPU_SPLIT, "3"], as_nobody=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_through_daemon(r)
        self.assertIn("uid=65534", self.daemon.log())
        rows, text = top_rows(out)
        self.assertAlmostEqual(rows["hot_function"][1], 75, delta=7, msg=text)
        self.assertGreaterEqual(rows["main"][1], 98, text)

    def test_several_types_and_the_preload_sampler_as_a_user(self):
        # cpu and allocs of one heap-split run (6:2:1 bytes) through the daemon, as nobody: the
        # allocations are sampled in the process by the preload sampler, counted from main's
        # first line; the cpu profile follows the process.
        r, prefix = self.launch(["--type", "cpu,allocs", "--sample-rate", "64KiB"],
                                [HEAP_SPLIT, "split", "0", "2", "200"], as_nobody=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_through_daemon(r, 2)
        rows, text = top_rows(prefix + "-allocs.pb.gz")
        self.assertAlmostEqual(rows["allocate_and_free_large"][0], 100 * 6 / 9, delta=6, msg=text)
        self.assertAlmostEqual(rows["leak_some"][0], 100 * 1 / 9, delta=4, msg=text)
        comments = pprof(["-comments", prefix + "-allocs.pb.gz"])
        self.assertIn("libprofd_preload.so", comments)
        self.assertIn("exited with status 0", comments)
        self.assertIn("exited with status 0", pprof(["-comments", prefix + "-cpu.pb.gz"]))

    def test_second_ctrl_c_ends_the_daemons_window_and_keeps_the_profile(self):
        before = self.daemon.log().count("of a launched command")
        self.second_ctrl_c_stops_profiling(dict(os.environ, PROFD_SOCKET=self.socket))
        self.assertEqual(self.daemon.log().count("of a launched command"), before + 1)

    def test_a_refused_request_leaves_the_command_unrun(self):
        # A window longer than the daemon allows is refused before anything runs: the command
        # (which would create a file) never starts.
        marker = os.path.join(self.dir, "ran-%d" % os.getpid())
        r, out = self.launch(["--type", "cpu", "--seconds", "1h"], ["touch", marker])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("refused", r.stderr)
        self.assertIn("the command was not run", r.stderr)
        self.assertFalse(os.path.exists(marker))


if __name__ == "__main__":
    unittest.main()
