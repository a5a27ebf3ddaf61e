"""What the test receivers of push backends share: an HTTP server on 127.0.0.1 in a thread of its
own, the requests it took (`pushes`), how many came, what it refused and why, and a plan of
answers to give first (a list the handler pops, one per request)."""
import http.server
import threading


class LoopbackReceiver:
    def __init__(self, plan=()):
        self.pushes = []
        self.requests = 0
        self.refusals = []
        self.plan = list(plan)
        self.lock = threading.Lock()

    def serve(self, handler_class, port=0):
        """Starts serving with `handler_class` (a BaseHTTPRequestHandler) on `port` (0: any)."""
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler_class)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next_planned(self):
        """Counts a request and returns the answer planned for it, None when the plan is done."""
        with self.lock:
            self.requests += 1
            return self.plan.pop(0) if self.plan else None

    def refused(self, why):
        with self.lock:
            self.refusals.append(why)

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def received(self):
        with self.lock:
            return list(self.pushes)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
