"""Helpers for the integration tests: run workloads and profd, read profiles through `go tool pprof`."""
import os
import re
import subprocess
import tempfile
import time

PROFD = os.environ.get("PROFD", "profd")
CPU_SPLIT = os.environ.get("CPU_SPLIT", "cpu-split")
GO_SPLIT = os.environ.get("GO_SPLIT", "go-split")
VDSO_LOOP = os.environ.get("VDSO_LOOP", "vdso-loop")
GO = os.environ.get("GO", "go")


def start_workload(argv):
    """Starts a workload and waits until it has exec'ed and runs (its comm is no longer python's)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc


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
