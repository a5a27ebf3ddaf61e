"""The daemon against callers it must not trust: local users other than root over loopback HTTP
and the control socket, binaries whose debug links point elsewhere, clients that hold connections,
repeated pids. Each test runs the real daemon and, where that is the point, the unprivileged user
(nobody)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import test_control_socket
from profd_testing import CPU_SPLIT, PROFD
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


if __name__ == "__main__":
    unittest.main()
