"""DWARF unwinding: the stacks profd records match, frame by frame, those eu-stack (libdw's CFI
unwinder, through ptrace) prints for the same process, in binaries with and without frame pointers."""
import os
import subprocess
import tempfile
import time
import unittest

from profd_testing import eu_stack, raw_samples, run_profd, start_workload

BUILD = os.environ.get("WORKLOADS_DIR", "")


class UnwindTest(unittest.TestCase):
    def profile(self, argv, seconds="2", unwind="dwarf", before=None):
        """Profiles the workload `argv` (calling `before(pid)` first); returns raw_samples()."""
        p = start_workload(argv)
        try:
            if before:
                before(p.pid)
            out = os.path.join(tempfile.mkdtemp(prefix="profd-unwind-"), "u.pb.gz")
            r = run_profd(["--pid", str(p.pid), "--seconds", seconds, "-o", out, "--unwind", unwind])
            self.assertEqual(r.returncode, 0, r.stderr)
            return raw_samples(out)
        finally:
            p.kill()
            p.wait()

    def check_case(self, binary, mode=None, unwind="dwarf", spin="spin"):
        argv = [os.path.join(BUILD, binary)] + ([mode] if mode else [])
        stacks = []

        def take_eu_stack(pid):
            time.sleep(0.3)
            stacks.append(eu_stack(pid))
            # eu-stack prints C++ names with their parameters, pprof's convention is without.
            self.assertTrue(stacks[0][0][1].startswith(spin), "eu-stack: %s" % stacks[0])

        samples = self.profile(argv, unwind=unwind, before=take_eu_stack)
        expected = stacks[0]
        total = sum(count for count, _ in samples)
        self.assertGreater(total, 50, samples)

        def matches(frames):
            # Callers hold return addresses: profd stores the call site (return address - 1).
            if len(frames) != len(expected) or frames[0][1] != spin:
                return False
            return all(addr + 1 == pc for (addr, _), (pc, _) in zip(frames[1:], expected[1:]))

        good = sum(count for count, frames in samples if matches(frames))
        best = max(samples, key=lambda s: s[0])[1]
        detail = "\neu-stack: %s\nprofd:    %s" % (
            [name for _, name in expected], [name for _, name in best])
        self.assertGreaterEqual(good / total, 0.95, "%d of %d samples match%s" % (good, total, detail))

    def test_chain_without_frame_pointers_pie(self):
        self.check_case("unwind-cases-nofp-pie", "chain")

    def test_chain_without_frame_pointers_non_pie(self):
        self.check_case("unwind-cases-nofp-nopie", "chain")

    def test_chain_with_frame_pointers(self):
        self.check_case("unwind-cases-fp-pie", "chain")

    def test_through_glibc_qsort(self):
        self.check_case("unwind-cases-nofp-pie", "libc")

    def test_through_a_signal_handler(self):
        self.check_case("unwind-cases-nofp-pie", "signal")

    def test_through_a_shared_library(self):
        self.check_case("unwind-cases-nofp-pie", "shlib")

    def test_cpp_with_exceptions(self):
        self.check_case("unwind-cpp", spin="profd_test::Spin")

    def assert_lld_layout(self, binary):
        # The case these tests exist for: a code segment whose file offset is not its virtual address.
        out = subprocess.run(["readelf", "-lW", os.path.join(BUILD, binary)], capture_output=True,
                             text=True, check=True).stdout
        code = [line.split() for line in out.splitlines()
                if line.strip().startswith("LOAD") and " R E " in line]
        self.assertTrue(code, out)
        self.assertNotEqual(int(code[0][1], 16), int(code[0][2], 16), out)

    def test_clang_lld_chain(self):
        self.assert_lld_layout("unwind-cases-clang-lld")
        self.check_case("unwind-cases-clang-lld", "chain")

    def test_clang_lld_through_glibc_qsort(self):
        self.check_case("unwind-cases-clang-lld", "libc")

    def test_clang_lld_through_a_signal_handler(self):
        self.check_case("unwind-cases-clang-lld", "signal")

    def test_clang_lld_through_a_shared_library(self):
        self.check_case("unwind-cases-clang-lld", "shlib")

    def test_clang_lld_cpp_with_exceptions(self):
        self.assert_lld_layout("unwind-cpp-clang-lld")
        self.check_case("unwind-cpp-clang-lld", spin="profd_test::Spin")

    def test_deep_stack_is_marked_truncated(self):
        samples = self.profile([os.path.join(BUILD, "unwind-cases-nofp-pie"), "deep"])
        count, frames = max(samples, key=lambda s: s[0])
        names = [name for _, name in frames]
        # 127 real frames, then the marker instead of a silent cut.
        self.assertEqual(len(frames), 128, names)
        self.assertEqual(names[0], "spin")
        self.assertEqual(set(names[1:127]), {"recurse"})
        self.assertEqual(names[127], "[truncated stack]")

    def test_samples_in_syscalls_keep_their_callers(self):
        # Most samples land in the kernel under write(2): the user stack starts at the registers saved
        # on syscall entry, inside glibc's wrapper (no frame pointers), and must still reach main.
        samples = self.profile([os.path.join(BUILD, "unwind-cases-nofp-pie"), "syscall"])
        total = sum(count for count, _ in samples)
        whole = sum(count for count, frames in samples
                    if [n for _, n in frames][-6:] == ["write_loop", "level1", "main",
                                                       "__libc_start_call_main",
                                                       "__libc_start_main", "_start"])
        self.assertGreater(total, 50)
        self.assertGreaterEqual(whole / total, 0.95, samples[:5])

    def test_process_that_execs_during_the_window(self):
        # The target starts as a shell and execs the workload 1 s in: profd must notice the exec, read
        # the new mappings and load their tables, or the stacks after it stay one frame deep.
        binary = os.path.join(BUILD, "unwind-cases-nofp-pie")
        samples = self.profile(["sh", "-c", "sleep 1; exec %s chain" % binary], seconds="3")
        chain = ["spin", "level3", "level2", "level1", "main"]
        whole = sum(count for count, frames in samples if [n for _, n in frames][:5] == chain)
        in_spin = sum(count for count, frames in samples if frames and frames[0][1] == "spin")
        self.assertGreater(in_spin, 50, samples[:5])
        self.assertGreaterEqual(whole / in_spin, 0.9, samples[:5])

    def test_frame_pointers_alone_lose_these_stacks(self):
        # The control: without tables the same program yields no whole stack, so the test above can fail.
        with self.assertRaises(AssertionError):
            self.check_case("unwind-cases-nofp-pie", "libc", unwind="fp")


if __name__ == "__main__":
    unittest.main()
