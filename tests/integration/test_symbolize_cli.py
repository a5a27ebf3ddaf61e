"""`profd --symbolize` against llvm-symbolizer on 20,000 random text addresses of Debian's libc."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from profd_testing import PROFD

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "bench", "symbolize")
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


class SymbolizeCliTest(unittest.TestCase):
    def test_agrees_with_llvm_symbolizer_on_libc(self):
        llvm = shutil.which("llvm-symbolizer") or shutil.which("llvm-symbolizer-14")
        self.assertIsNotNone(llvm, "llvm-symbolizer (package llvm) is needed for this test")
        work = tempfile.mkdtemp(prefix="profd-sym-")
        addresses = os.path.join(work, "addresses.txt")
        with open(addresses, "w") as f:
            subprocess.run([sys.executable, os.path.join(BENCH, "gen_addresses.py"), LIBC, "20000",
                            "7"], stdout=f, check=True)
        outputs = {}
        for name, cmd in (("llvm", [llvm, "--inlining", "--obj=" + LIBC]),
                          ("profd", [PROFD, "--symbolize", LIBC])):
            outputs[name] = os.path.join(work, name + ".out")
            with open(addresses) as stdin, open(outputs[name], "w") as stdout:
                r = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                   text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
        report = subprocess.run([sys.executable, os.path.join(BENCH, "compare.py"), addresses,
                                 outputs["llvm"], outputs["profd"], "--show", "5"],
                                capture_output=True, text=True, check=True).stdout
        chains = float(re.search(r"function chains agree: \d+ \(([\d.]+)%\)", report).group(1))
        lines = float(re.search(r"chains \+ file:line agree: \d+ \(([\d.]+)%\)", report).group(1))
        self.assertGreaterEqual(chains, 95.0, report)
        self.assertGreaterEqual(lines, 95.0, report)

    def test_unreadable_object_and_malformed_line(self):
        r = subprocess.run([PROFD, "--symbolize", "/nonexistent/binary"], input="0x10\n",
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent/binary", r.stderr)
        self.assertEqual(r.stdout, "??\n??:0:0\n\n")
        r = subprocess.run([PROFD, "--symbolize", LIBC], input="zz\n", capture_output=True,
                           text=True, timeout=30)
        self.assertIn("'zz' is not a hex address", r.stderr)
        self.assertEqual(r.stdout, "??\n??:0:0\n\n")


if __name__ == "__main__":
    unittest.main()
