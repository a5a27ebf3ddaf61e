"""The shipped systemd unit, man page and Debian package.

Environment (set by tests/packaging/CMakeLists.txt): PROFD (the built binary), PROFD_SOURCE_DIR,
PROFD_BUILD_DIR (holds CPackConfig.cmake; profd must be built). Needs systemd-analyze, groff,
cpack, dpkg-deb and dpkg-shlibdeps; no root and no BPF.
"""

import configparser
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

PROFD = os.environ["PROFD"]
SOURCE_DIR = os.environ["PROFD_SOURCE_DIR"]
BUILD_DIR = os.environ["PROFD_BUILD_DIR"]
PACKAGING = os.path.join(SOURCE_DIR, "packaging")
UNIT = os.path.join(PACKAGING, "profd.service")
MAN_PAGE = os.path.join(PACKAGING, "profd.8")
CONFIG = os.path.join(SOURCE_DIR, "config", "profd.yaml")

INSTALLED_BINARY = "/usr/sbin/profd"
INSTALLED_CONFIG = "/etc/profd/profd.yaml"


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def read_unit():
    """The unit's [Service] and [Unit] keys (no key is repeated in profd.service)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(UNIT)
    return parser


class UnitTest(unittest.TestCase):
    def test_systemd_analyze_verify(self):
        # verify checks that ExecStart exists: a copy starts the binary just built.
        with tempfile.TemporaryDirectory() as tmp:
            with open(UNIT) as f:
                text = f.read()
            self.assertIn("ExecStart=" + INSTALLED_BINARY + " ", text)
            copy = os.path.join(tmp, "profd.service")
            with open(copy, "w") as f:
                f.write(text.replace("ExecStart=" + INSTALLED_BINARY, "ExecStart=" + PROFD))
            result = run(["systemd-analyze", "verify", "--man=no", copy])
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            # Unknown keys, bad values and unknown capabilities are warnings with exit code 0.
            self.assertEqual(result.stdout + result.stderr, "")

    def test_starts_the_daemon_as_the_package_installs_it(self):
        service = read_unit()["Service"]
        self.assertEqual(service["Type"], "notify")
        self.assertEqual(service["ExecStart"],
                         INSTALLED_BINARY + " --daemon --config " + INSTALLED_CONFIG)
        self.assertEqual(service["ExecReload"], "/bin/kill -HUP $MAINPID")
        self.assertEqual(service["StateDirectory"], "profd")
        self.assertEqual(service["RuntimeDirectory"], "profd")
        self.assertIn("WatchdogSec", service)
        # The daemon's defaults live where systemd makes them writable.
        with open(CONFIG) as f:
            config = f.read()
        self.assertRegex(config, r"(?m)^  directory: /var/lib/profd$")
        self.assertRegex(config, r"(?m)^socket_path: /run/profd/")

    def test_every_capability_is_explained(self):
        service = read_unit()["Service"]
        bounding = service["CapabilityBoundingSet"].split()
        self.assertEqual(sorted(bounding), sorted(service["AmbientCapabilities"].split()))
        for needed in ("CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE", "CAP_SYSLOG"):
            self.assertIn(needed, bounding)
        with open(UNIT) as f:
            text = f.read()
        for capability in bounding:
            self.assertRegex(text, r"(?m)^# " + capability + r": \S",
                             capability + " has no comment line saying why it is needed")

    def test_no_sandboxing_that_breaks_profiling(self):
        service = read_unit()["Service"]
        # Each of these hides /proc/kallsyms, drops CAP_SYSLOG, hides other processes' /proc/PID
        # or takes every capability in the host's user namespace.
        for key in ("ProtectKernelTunables", "ProtectKernelLogs", "PrivateUsers", "PrivateNetwork"):
            self.assertNotIn(key, service)
        self.assertNotIn("ProcSubset", service)
        self.assertNotIn("ProtectProc", service)
        self.assertEqual(service["ProtectHome"], "read-only")


class ManPageTest(unittest.TestCase):
    def test_groff_renders_without_warnings(self):
        result = run(["groff", "-man", "-ww", "-z", "-Tutf8", MAN_PAGE])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")

    def test_man_renders_without_warnings(self):
        # As lintian checks a man page.
        env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
        result = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", MAN_PAGE],
                     env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")

    def test_documents_every_flag(self):
        help_text = run([PROFD, "--help"]).stdout
        # CLI11's lines: "  -p,--pid TEXT   process id(s) ..." and "  --daemon   run as ...".
        flags = set()
        for short, long in re.findall(r"(?m)^ +(?:(-\w),)?(--[a-z][a-z-]*)", help_text):
            flags.update(f for f in (short, long) if f)
        self.assertTrue({"--daemon", "--symbolize", "-p", "--pid"} <= flags, flags)
        with open(MAN_PAGE) as f:
            page = f.read().replace("\\-", "-")
        for flag in sorted(flags):
            self.assertIn(flag, page, flag + " is in profd --help but not in profd.8")


class DebianPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # cpack installs what is built (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY), profd first of all.
        assert os.access(PROFD, os.X_OK), PROFD + " is not built"
        cls.tmp = tempfile.mkdtemp(prefix="profd-cpack-")
        result = run(["cpack", "-G", "DEB", "--config",
                      os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B", cls.tmp])
        if result.returncode != 0:
            shutil.rmtree(cls.tmp)
            raise AssertionError("cpack failed:\n" + result.stdout + result.stderr)
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(cls.tmp, debs[0])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def field(self, name):
        return run(["dpkg-deb", "-f", self.deb, name]).stdout.strip()

    def test_contents(self):
        listing = run(["dpkg-deb", "-c", self.deb])
        self.assertEqual(listing.returncode, 0, listing.stderr)
        # "-rwxr-xr-x root/root 1234 2026-01-01 00:00 ./usr/sbin/profd"
        entries = {}
        for line in listing.stdout.splitlines():
            fields = line.split(None, 5)
            entries[fields[5].removeprefix("./")] = fields[0]
        for path, mode in (("usr/sbin/profd", "-rwxr-xr-x"),
                           ("lib/systemd/system/profd.service", "-rw-r--r--"),
                           ("etc/profd/profd.yaml", "-rw-r--r--"),
                           ("usr/share/man/man8/profd.8.gz", "-rw-r--r--")):
            self.assertIn(path, entries)
            self.assertEqual(entries[path], mode, path)
        self.assertFalse([p for p in entries if p.startswith("usr/local")], entries)
        # Launch mode's allocation sampler, where profd (usr/sbin) looks for it: ../lib/profd.
        for sampler in ("libprofd_preload.so", "libprofd_preload_jemalloc.so"):
            self.assertIn("usr/lib/profd/" + sampler, entries)
            self.assertNotIn("w", entries["usr/lib/profd/" + sampler][5:])

    def test_files_are_the_sources(self):
        with tempfile.TemporaryDirectory() as root:
            result = run(["dpkg-deb", "-x", self.deb, root])
            self.assertEqual(result.returncode, 0, result.stderr)
            for packaged, source in (("etc/profd/profd.yaml", CONFIG),
                                     ("lib/systemd/system/profd.service", UNIT)):
                with open(os.path.join(root, packaged), "rb") as a, open(source, "rb") as b:
                    self.assertEqual(a.read(), b.read(), packaged)
            with gzip.open(os.path.join(root, "usr/share/man/man8/profd.8.gz")) as a, \
                    open(MAN_PAGE, "rb") as b:
                self.assertEqual(a.read(), b.read())
            # Stripped, and still the program.
            binary = os.path.join(root, "usr/sbin/profd")
            self.assertNotIn(".debug_info", run(["readelf", "-S", "-W", binary]).stdout)
            self.assertRegex(run([binary, "--version"]).stdout, r"^profd \d")

    def test_control(self):
        self.assertEqual(self.field("Package"), "profd")
        self.assertEqual(self.field("Section"), "admin")
        version = run([PROFD, "--version"]).stdout.split()[1]
        self.assertEqual(self.field("Version"), version)
        self.assertTrue(self.field("Maintainer"))
        self.assertIn("pprof", self.field("Description"))
        depends = self.field("Depends")
        # Computed by dpkg-shlibdeps from what the binary links.
        for library in ("libbpf", "libdw", "libelf", "libc6"):
            self.assertRegex(depends, r"(^|, )" + library + r"[0-9]* ", depends)
        # Opened by the push exporters at their first push, not linked: named by hand.
        self.assertRegex(depends, r"(^|, )libcurl4 \(>= 7\.85\)", depends)

    def test_conffiles_and_maintainer_scripts(self):
        with tempfile.TemporaryDirectory() as control:
            result = run(["dpkg-deb", "-e", self.deb, control])
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(os.path.join(control, "conffiles")) as f:
                self.assertEqual(f.read().split(), [INSTALLED_CONFIG])
            for script in ("postinst", "prerm", "postrm"):
                path = os.path.join(control, script)
                self.assertTrue(os.access(path, os.X_OK), script)
                self.assertEqual(run(["sh", "-n", path]).returncode, 0, script)


if __name__ == "__main__":
    unittest.main()
