"""CPU profiles of real processes through the real BPF sampler, checked with `go tool pprof`."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from profd_testing import (CPU_SPLIT, GO_SPLIT, PROFD, VDSO_LOOP, pprof, run_profd,
                           start_workload, top_rows)


class CpuProfileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="profd-test-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()

    def workload(self, argv):
        p = start_workload(argv)
        self.procs.append(p)
        return p

    def assert_split(self, rows, hot, cold, text, min_coverage=90.0):
        self.assertIn(hot, rows, text)
        self.assertIn(cold, rows, text)
        hot_cum, cold_cum = rows[hot][1], rows[cold][1]
        share = hot_cum / (hot_cum + cold_cum)
        # By construction the split is 3:1; sampling noise at a few hundred samples is a few percent.
        self.assertGreater(share, 0.68, text)
        self.assertLess(share, 0.82, text)
        self.assertGreater(hot_cum + cold_cum, min_coverage, text)

    def test_c_program_three_to_one_with_inline_frames_and_lines(self):
        p = self.workload([CPU_SPLIT, "60"])
        out = os.path.join(self.dir, "c.pb.gz")
        r = run_profd(["--pid", str(p.pid), "--type", "cpu", "--seconds", "4", "-o", out,
                       "--frequency", "199"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[0], out)
        self.assertIn("flat%", r.stdout)  # profd's own top table
        rows, text = top_rows(out, ["-sample_index=cpu"])
        self.assert_split(rows, "hot_function", "cold_function", text)
        # Flat time lands in the inlined mix_step; its chain shows the caller and `main`.
        self.assertIn("mix_step", rows, text)
        self.assertGreater(rows["mix_step"][0], 80.0, text)
        self.assertGreater(rows["main"][1], 95.0, text)
        traces = pprof(["-traces", out])
        self.assertRegex(traces, r"mix_step \(inline\)\s*\n\s*hot_function\s*\n\s*main", traces)
        # File and line numbers come from DWARF.
        lines = pprof(["-top", "-lines", out])
        self.assertRegex(lines, r"mix_step .*cpu_split\.c:\d+", lines)
        self.assertRegex(lines, r"hot_function .*cpu_split\.c:\d+", lines)
        # The raw profile names the binary and its build id, and the sample types of a Go CPU profile.
        raw = pprof(["-raw", out])
        self.assertIn("samples/count cpu/nanoseconds", raw)
        self.assertRegex(raw, r"cpu-split .*[0-9a-f]{40}", raw)

    def test_go_program(self):
        p = self.workload([GO_SPLIT, "60"])
        out = os.path.join(self.dir, "go.pb.gz")
        r = run_profd(["--pid", str(p.pid), "--seconds", "4", "-o", out, "--frequency", "199"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, text = top_rows(out)
        # Both are frameless leaves: .gopclntab's pcsp tables give their caller, main.main.
        self.assert_split(rows, "main.hotFunction", "main.coldFunction", text)
        self.assertIn("main.main", rows, text)
        self.assertGreater(rows["main.main"][1], 97.0, text)
        self.assertGreater(rows["runtime.main"][1], 97.0, text)

    def test_two_pids_and_labels(self):
        a = self.workload([CPU_SPLIT, "60"])
        b = self.workload([GO_SPLIT, "60"])
        out = os.path.join(self.dir, "two.pb.gz")
        r = run_profd(["--pid", "%d,%d" % (a.pid, b.pid), "--seconds", "3", "-o", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        tags = pprof(["-tags", out])
        self.assertIn(str(a.pid), tags)
        self.assertIn(str(b.pid), tags)
        self.assertIn("cpu-split", tags)
        self.assertIn("go-split", tags)
        rows, text = top_rows(out, ["-tagfocus=pid=%d" % a.pid])
        self.assertIn("hot_function", rows, text)
        self.assertNotIn("main.hotFunction", rows, text)

    def test_all_processes_finds_a_known_process_by_label(self):
        p = self.workload([CPU_SPLIT, "60", "profd-marker"])
        out = os.path.join(self.dir, "all.pb.gz")
        r = run_profd(["--all", "--seconds", "3", "-o", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        tags = pprof(["-tags", out])
        self.assertIn("profd-marker", tags)
        rows, text = top_rows(out, ["-tagfocus=thread_comm=profd-marker"])
        # Percentages are of the whole host here, so only the split is checked.
        self.assert_split(rows, "hot_function", "cold_function", text, min_coverage=0)
        rows, text = top_rows(out, ["-tagfocus=pid=%d" % p.pid])
        self.assertIn("hot_function", rows, text)

    def test_kernel_frames_are_symbolized(self):
        # `yes > /dev/null` spends most of its time in write(2): kernel frames must carry names.
        p = self.workload(["sh", "-c", "exec yes > /dev/null"])
        out = os.path.join(self.dir, "kernel.pb.gz")
        r = run_profd(["--pid", str(p.pid), "--seconds", "2", "-o", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, text = top_rows(out)
        self.assertTrue(any("write" in name for name in rows if not name.startswith("[kernel]")),
                        text)
        self.assertIn("entry_SYSCALL_64_after_hwframe", rows, text)

    def test_deleted_binary_still_symbolizes(self):
        # The binary is removed after start: profd reads it through /proc/PID/map_files.
        copy = os.path.join(self.dir, "doomed-split")
        shutil.copy(CPU_SPLIT, copy)
        p = self.workload([copy, "60"])
        os.unlink(copy)
        out = os.path.join(self.dir, "deleted.pb.gz")
        r = run_profd(["--pid", str(p.pid), "--seconds", "2", "-o", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, text = top_rows(out)
        self.assert_split(rows, "hot_function", "cold_function", text)
        self.assertIn("doomed-split", pprof(["-raw", out]))

    def test_vdso_frames_are_symbolized(self):
        p = self.workload([VDSO_LOOP, "60"])
        out = os.path.join(self.dir, "vdso.pb.gz")
        r = run_profd(["--pid", str(p.pid), "--seconds", "2", "-o", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows, text = top_rows(out)
        # The vDSO's exported functions carry names; its static helpers show as [vdso]+offset.
        self.assertIn("__vdso_clock_gettime", rows, text)
        in_vdso = sum(flat for name, (flat, _) in rows.items()
                      if name.startswith("__vdso_") or name.startswith("[vdso]+"))
        self.assertGreater(in_vdso, 50.0, text)
        self.assertIn("[vdso]", pprof(["-raw", out]))

    def test_ctrl_c_ends_early_and_writes(self):
        p = self.workload([CPU_SPLIT, "60"])
        out = os.path.join(self.dir, "int.pb.gz")
        proc = subprocess.Popen([PROFD, "--pid", str(p.pid), "--seconds", "60", "-o", out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, stderr)
        self.assertIn("interrupted", stderr)
        rows, text = top_rows(out)
        self.assertIn("hot_function", rows, text)

    def test_target_exits_mid_profile(self):
        p = self.workload([CPU_SPLIT, "1.5"])
        out = os.path.join(self.dir, "exit.pb.gz")
        start = time.time()
        r = run_profd(["--pid", str(p.pid), "--seconds", "20", "-o", out])
        self.assertLess(time.time() - start, 10, "profd must stop once its only target is gone")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertRegex(r.stderr, r"pid %d exited .* into the 20s window" % p.pid)
        rows, text = top_rows(out)
        self.assert_split(rows, "hot_function", "cold_function", text)
        comments = pprof(["-comments", out])
        self.assertIn("exited", comments)

    def test_default_output_name(self):
        p = self.workload([CPU_SPLIT, "60"])
        r = subprocess.run([PROFD, "--pid", str(p.pid), "--seconds", "1", "-q"], cwd=self.dir,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        name = r.stdout.strip()
        self.assertRegex(name, r"^profd-cpu-%d-\d{8}-\d{6}\.pb\.gz$" % p.pid)
        self.assertTrue(os.path.exists(os.path.join(self.dir, name)))
        self.assertEqual([f for f in os.listdir(self.dir) if ".tmp." in f], [])


if __name__ == "__main__":
    unittest.main()
