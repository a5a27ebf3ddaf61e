"""Python workloads that wait, whose block, mutex and threadcreate profiles are known by construction
(tests/integration/test_python.py).

sleep SECONDS: main() calls wait_long() and wait_short(), which sleep 30 ms and 10 ms, so wait_long()
holds 75% of the time the two wait. lock SECONDS: four threads run update(), each taking a shared
threading.Lock and holding it across a 5 ms sleep (a slow write under a lock), so three wait for it
most of the time. threads DELAY SECONDS: after DELAY, start_pool() starts four threads and
start_one() one. pool THREADS SECONDS: serve() starts THREADS threads that, as the main thread,
poll() every 10 ms.
"""
import sys
import threading
import time


def wait_long():
    time.sleep(0.03)


def wait_short():
    time.sleep(0.01)


def main(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wait_long()
        wait_short()


lock = threading.Lock()
written = []


def update(end):
    while time.monotonic() < end:
        with lock:
            time.sleep(0.005)
            written.append(1)


def contend(seconds):
    end = time.monotonic() + seconds
    threads = [threading.Thread(target=update, args=(end,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def idle(end):
    time.sleep(max(0.0, end - time.monotonic()))


def start_pool(end):
    threads = [threading.Thread(target=idle, args=(end,)) for _ in range(4)]
    for t in threads:
        t.start()
    return threads


def start_one(end):
    t = threading.Thread(target=idle, args=(end,))
    t.start()
    return t


def spawn(delay, seconds):
    time.sleep(delay)
    end = time.monotonic() + seconds
    threads = start_pool(end) + [start_one(end)]
    for t in threads:
        t.join()


def poll(end):
    while time.monotonic() < end:
        time.sleep(0.01)


def serve(threads, seconds):
    end = time.monotonic() + seconds
    workers = [threading.Thread(target=poll, args=(end,)) for _ in range(threads)]
    for w in workers:
        w.start()
    poll(end)
    for w in workers:
        w.join()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sleep":
        main(float(sys.argv[2]))
    elif mode == "lock":
        contend(float(sys.argv[2]))
    elif mode == "pool":
        serve(int(sys.argv[2]), float(sys.argv[3]))
    else:
        spawn(float(sys.argv[2]), float(sys.argv[3]))
