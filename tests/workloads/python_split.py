"""A Python workload whose profile is known by construction (tests/integration/test_python.py).

split SECONDS: main() calls hot() and cold(), which run the same loop (work) 3 and 1 times as long,
so hot() holds 75% of the time the two take. zlib SECONDS: compress_loop() calls zlib.compress, so the C
frames of zlib sit on top of a Python caller. alloc SECONDS: allocate() calls make_large() and
make_small(), which create bytearrays of 96 KiB and 32 KiB (large enough that CPython takes them
from malloc, not its own small-object arenas) and keep the last 64 of each: 3/4 of the bytes allocated,
and of those still live, come from make_large(). shapes SECONDS: shapes() spends its time 4:3:2:1 in
a recursive function (recurse, five frames deep), a generator (produce), a method of a class
(Meter.measure) and a lambda (scale), each running the same leaf (spin) for that share of the work.
"""
import collections
import sys
import time
import zlib


def work(n):
    x = 0
    i = 0
    while i < n:
        x += i * i
        i += 1
    return x


def hot():
    return work(30000)


def cold():
    return work(10000)


def main(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        hot()
        cold()


def make_large():
    return bytearray(3 * 32768)


def make_small():
    return bytearray(32768)


def allocate(seconds):
    large = collections.deque(maxlen=64)
    small = collections.deque(maxlen=64)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        large.append(make_large())
        small.append(make_small())


def spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def recurse(depth, n):
    if depth == 0:
        return spin(n)
    return recurse(depth - 1, n)


def produce(n):
    for _ in range(3):
        yield spin(n)


class Meter:
    def measure(self, n):
        return spin(2 * n)


scale = lambda n: spin(n)  # noqa: E731 (a lambda is what is profiled)


def shapes(seconds):
    n = 20000
    meter = Meter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        recurse(4, 4 * n)
        sum(produce(n))
        meter.measure(n)
        scale(n)


def compress_loop(seconds):
    data = bytes(range(256)) * 4096 + b"profd" * 100000
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        zlib.compress(data, 9)


if __name__ == "__main__":
    mode, seconds = sys.argv[1], float(sys.argv[2])
    if mode == "split":
        main(seconds)
    elif mode == "alloc":
        allocate(seconds)
    elif mode == "shapes":
        shapes(seconds)
    else:
        compress_loop(seconds)
