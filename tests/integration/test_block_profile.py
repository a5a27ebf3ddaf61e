"""Block (off-CPU) profiles through the real switch-out program, checked with `go tool pprof`."""
import os
import re
import tempfile
import unittest

from profd_testing import CPU_SPLIT, pprof, run_profd, start_workload, top_rows

BLOCK_SPLIT = os.path.join(os.environ.get("WORKLOADS_DIR", ""), "block-split")


def total(top_text, unit):
    """The "Total samples = N<unit>" of a `go tool pprof -top` output."""
    return float(re.search(r"Total samples = ([\d.]+)" + unit, top_text).group(1))


class BlockProfileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="profd-block-")

    def profile(self, argv, extra=(), seconds="3"):
        p = start_workload(argv)
        try:
            out = os.path.join(self.dir, "b.pb.gz")
            r = run_profd(["--pid", str(p.pid), "--type", "block", "--seconds", seconds, "-o", out]
                          + list(extra))
            self.assertEqual(r.returncode, 0, r.stderr)
            return out
        finally:
            p.kill()
            p.wait()

    def test_known_proportions_of_waiting(self):
        out = self.profile([BLOCK_SPLIT, "60"])
        rows, text = top_rows(out, ["-sample_index=delay"])
        long_ms, short_ms = rows["sleep_long"][1], rows["sleep_short"][1]
        share = long_ms / (long_ms + short_ms)
        self.assertGreater(share, 0.72, text)  # 20 ms against 5 ms: 0.8 by construction
        self.assertLess(share, 0.88, text)
        # Three threads block all the time: main (sleeps), the socket reader, the socket writer.
        self.assertGreater(rows["wait_on_socket"][1], 25.0, text)
        self.assertGreater(rows["feed_socket"][1], 25.0, text)
        # Whole stacks through glibc (no frame pointers) into the kernel's scheduler.
        self.assertGreater(rows["main"][1], 25.0, text)
        self.assertTrue({"schedule", "__schedule"} & set(rows), text)
        self.assertFalse([n for n in rows if n.startswith("bpf_")], text)
        # Contentions: one per sleep, as many short ones as long ones.
        rows, text = top_rows(out, ["-sample_index=contentions"])
        ratio = rows["sleep_long"][1] / rows["sleep_short"][1]
        self.assertGreater(ratio, 0.9, text)
        self.assertLess(ratio, 1.1, text)
        raw = pprof(["-raw", out])
        self.assertIn("contentions/count delay/nanoseconds", raw)

    def test_thread_created_while_profiling(self):
        # The late thread starts 2 s into a 4 s window: it inherits the context-switch event of the
        # thread that created it, and each of its 10 ms sleeps counts once.
        out = self.profile([BLOCK_SPLIT, "60", "late"], seconds="4")
        rows, text = top_rows(out, ["-sample_index=delay", "-unit=ms"])
        self.assertIn("sleep_in_late_thread", rows, text)
        delay_ms = rows["sleep_in_late_thread"][1] / 100 * total(text, "ms")
        count_rows, count_text = top_rows(out, ["-sample_index=contentions"])
        count = count_rows["sleep_in_late_thread"][1] / 100 * total(count_text, "")
        self.assertGreater(count, 20, count_text)
        # 10 ms sleeps plus the wake-up latency; a wait counted twice would halve this.
        self.assertGreater(delay_ms / count, 9.5, text)
        self.assertLess(delay_ms / count, 14.0, text)

    def test_whole_host(self):
        # --all watches every CPU's switch-outs instead of the target's threads: the workload is
        # found among the host's processes, with its shape.
        p = start_workload([BLOCK_SPLIT, "60"])
        try:
            out = os.path.join(self.dir, "all.pb.gz")
            r = run_profd(["--all", "--type", "block", "--seconds", "3", "-o", out])
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            p.kill()
            p.wait()
        rows, text = top_rows(out, ["-sample_index=delay", "-tagfocus=pid=%d" % p.pid])
        long_ms, short_ms = rows["sleep_long"][1], rows["sleep_short"][1]
        self.assertGreater(long_ms / (long_ms + short_ms), 0.72, text)
        self.assertLess(long_ms / (long_ms + short_ms), 0.88, text)
        self.assertIn("every CPU", text)

    def test_min_block_drops_shorter_waits(self):
        out = self.profile([BLOCK_SPLIT, "60"], ["--min-block", "10ms"])
        rows, text = top_rows(out, ["-sample_index=delay"])
        self.assertIn("sleep_long", rows, text)
        self.assertNotIn("sleep_short", rows, text)

    def test_target_exits_mid_window(self):
        p = start_workload([BLOCK_SPLIT, "1.5"])
        out = os.path.join(self.dir, "exit.pb.gz")
        r = run_profd(["--pid", str(p.pid), "--type", "block", "--seconds", "20", "-o", out])
        p.wait()
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("exited", r.stderr)
        rows, text = top_rows(out, ["-sample_index=delay"])
        self.assertIn("sleep_long", rows, text)

    def test_preemption_is_not_blocking(self):
        # A CPU-bound loop never blocks; it is only preempted, which must not count.
        p = start_workload([CPU_SPLIT, "60"])
        try:
            out = os.path.join(self.dir, "cpu.pb.gz")
            r = run_profd(["--pid", str(p.pid), "--type", "block", "--seconds", "2", "-o", out])
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            p.kill()
            p.wait()
        text = pprof(["-top", "-sample_index=delay", out])
        self.assertRegex(text, r"Total samples = 0\s", text)


if __name__ == "__main__":
    unittest.main()
