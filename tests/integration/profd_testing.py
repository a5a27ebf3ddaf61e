"""Helpers for the integration tests: run workloads and profd, read profiles through `go tool pprof`."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

PROFD = os.environ.get("PROFD", "profd")
CPU_SPLIT = os.environ.get("CPU_SPLIT", "cpu-split")
GO_SPLIT = os.environ.get("GO_SPLIT", "go-split")
GO_SPLIT_STRIPPED = os.environ.get("GO_SPLIT_STRIPPED", "go-split-stripped")
GO_PPROF = os.environ.get("GO_PPROF", "go-pprof")
VDSO_LOOP = os.environ.get("VDSO_LOOP", "vdso-loop")
GO = os.environ.get("GO", "go")

# A one-shot profd asks a daemon on /run/profd/profd.sock when one answers: the tests profile in
# their own process unless a test starts a daemon and names its socket (a daemon someone runs on
# the host would otherwise answer for them, with its own binary and settings).
os.environ["PROFD_SOCKET"] = ""


def start_workload(argv, env=None):
    """Starts a workload and waits until it has exec'ed and runs (its comm is no longer python's)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(0.3)
    return proc


class WorkloadTestCase(unittest.TestCase):
    """A test that starts processes: each is killed at its end, and its scratch directory removed."""
    dir_prefix = "profd-test-"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.dir_prefix)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_profd(args, timeout=120):
    r = subprocess.run([PROFD] + args, capture_output=True, text=True, timeout=timeout)
    if "internal error" in r.stderr:
        raise AssertionError("profd reported an internal error: " + r.stderr)
    return r


def pprof(args, timeout=120):
    env = dict(os.environ)
    env.setdefault("HOME", tempfile.gettempdir())
    env["PPROF_TMPDIR"] = tempfile.gettempdir()
    out = subprocess.run([GO, "tool", "pprof"] + args, capture_output=True, text=True,
                         timeout=timeout, env=env)
    if out.returncode != 0:
        raise AssertionError("go tool pprof %s failed: %s" % (" ".join(args), out.stderr))
    return out.stdout


_ROW = re.compile(r"^\s*(\S+)\s+(\S+)%\s+(\S+)%\s+(\S+)\s+(\S+)%\s+(.*)$")


def top_rows(profile_path, extra=()):
    """Parses `go tool pprof -top` into {function: (flat%, cum%)}."""
    text = pprof(["-top", "-nodecount=200"] + list(extra) + [profile_path])
    rows = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and m.group(1) != "flat":
            name = m.group(6).strip()
            name = re.sub(r" \(inline\)$", "", name)
            rows[name] = (float(m.group(2)), float(m.group(5)))
    return rows, text


def flat_count(top_text, function):
    """The flat value of `function` in `go tool pprof -top` text of a count sample type."""
    for line in top_text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and " ".join(fields[5:]) == function:
            return int(fields[0])
    raise AssertionError(function + " not in\n" + top_text)


KERNEL_START = 0xffff800000000000


def raw_samples(profile_path):
    """Parses `go tool pprof -raw`: returns [(count, [(address, function), ...leaf first])], user frames
    only (kernel addresses dropped)."""
    text = pprof(["-raw", profile_path])
    locations = {}
    in_locations = False
    for line in text.splitlines():
        if line.startswith("Locations"):
            in_locations = True
            continue
        if line.startswith("Mappings"):
            break
        if in_locations:
            m = re.match(r"^\s+(\d+): (0x[0-9a-f]+)(?: M=\d+)? (\S.*?) \S*:\d+ s=\d+(?:\(.*\))?$", line)
            if m:
                locations[int(m.group(1))] = (int(m.group(2), 16), m.group(3))
            else:
                m = re.match(r"^\s+(\d+): (0x[0-9a-f]+)", line)
                if m:
                    locations[int(m.group(1))] = (int(m.group(2), 16), "")
    samples = []
    in_samples = False
    for line in text.splitlines():
        if line.startswith("Samples:"):
            in_samples = True
            continue
        if line.startswith("Locations"):
            break
        m = re.match(r"^\s+(\d+)\s+\d+: ([\d ]+)$", line) if in_samples else None
        if m:
            frames = [locations[int(i)] for i in m.group(2).split()]
            samples.append((int(m.group(1)), [f for f in frames if f[0] < KERNEL_START]))
    return samples


def raw_stacks(profile_path, value=0):
    """Parses `go tool pprof -raw` with inlined calls expanded: returns [(count, [function, ...])],
    leaf (innermost inlined call) first, kernel frames dropped; count is the sample's value number
    `value` (0: its first sample type)."""
    text = pprof(["-raw", profile_path])
    locations = {}
    current = None
    section = None
    samples = []
    for line in text.splitlines():
        if line.startswith(("Samples:", "Locations", "Mappings")):
            section = line.split()[0].rstrip(":")
            continue
        if section == "Locations":
            m = re.match(r"^\s+(\d+): (0x[0-9a-f]+)(?: M=\d+)? (\S.*?) \S*:\d+ s=\d+", line)
            if m:
                current = [m.group(3)] if int(m.group(2), 16) < KERNEL_START else []
                locations[int(m.group(1))] = current
                continue
            m = re.match(r"^\s+(\S.*?) \S*:\d+ s=\d+", line)
            if m and current is not None and current:
                current.append(m.group(1))  # the caller of the line above, inlined here
        elif section == "Samples":
            m = re.match(r"^\s+(\d+(?:\s+\d+)+): ([\d ]+)$", line)
            if m:
                values = m.group(1).split()
                samples.append((int(values[value]), [int(i) for i in m.group(2).split()]))
    return [(count, [f for i in ids for f in locations.get(i, [])]) for count, ids in samples]


def eu_stack(pid):
    """The main thread's stack from eu-stack (ptrace, CFI unwinding): [(pc, function)], leaf first."""
    out = subprocess.run(["eu-stack", "-1", "-p", str(pid)], capture_output=True, text=True,
                         timeout=60)
    frames = []
    for line in out.stdout.splitlines():
        m = re.match(r"^#\d+\s+(0x[0-9a-f]+)\s*(\S*)", line)
        if m:
            frames.append((int(m.group(1), 16), m.group(2)))
    if not frames:
        raise AssertionError("eu-stack gave no stack: " + out.stderr)
    return frames


def metric(text, name):
    """The sum of a metric's samples in /metrics text (its labels, if any, summed over); None
    when the text has none."""
    values = re.findall(r"^%s(?:\{[^}]*\})? ([\d.e+]+)$" % re.escape(name), text, re.M)
    return sum(float(v) for v in values) if values else None
