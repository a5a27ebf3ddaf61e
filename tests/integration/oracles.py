"""Independent oracles for profiles of real programs: `perf record --call-graph dwarf` run side by
side with profd on the same process, compared function by function.

Frames are compared by function identity, not by name: each user frame becomes (file, start of the
.eh_frame FDE holding its address), FDEs read with binutils' readelf. Stripped binaries, aliases
and the two tools' naming choices then compare alike; names are kept only for messages.
"""
import bisect
import collections
import os
import re
import subprocess

from profd_testing import pprof

KERNEL_START = 0xffff800000000000


class FunctionIndex:
    """Function boundaries of ELF files from their CFI (readelf), and their PT_LOAD layout."""

    def __init__(self):
        self._fdes = {}
        self._loads = {}

    def _load(self, path):
        if path in self._fdes:
            return
        starts, ends = [], []
        loads = []
        if os.path.isfile(path):
            out = subprocess.run(["readelf", "--debug-dump=frames", path], capture_output=True,
                                 text=True, errors="replace").stdout
            ranges = sorted((int(a, 16), int(b, 16)) for a, b in
                            re.findall(r" FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", out))
            starts = [a for a, _ in ranges]
            ends = [b for _, b in ranges]
            phdrs = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True,
                                   errors="replace").stdout
            for m in re.finditer(r"^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+\s+(0x[0-9a-f]+)",
                                 phdrs, re.M):
                loads.append(tuple(int(x, 16) for x in m.groups()))
        self._fdes[path] = (starts, ends)
        self._loads[path] = loads

    def vaddr(self, path, file_offset):
        """The ELF virtual address of a file offset (lld binaries have offset != vaddr)."""
        self._load(path)
        for offset, vaddr, size in self._loads[path]:
            if offset <= file_offset < offset + size:
                return vaddr + file_offset - offset
        return file_offset

    def function(self, path, vaddr):
        """(basename, FDE start) of the function holding vaddr, else (basename, vaddr)."""
        self._load(path)
        starts, ends = self._fdes[path]
        i = bisect.bisect_right(starts, vaddr) - 1
        base = os.path.basename(path)
        if i >= 0 and vaddr < ends[i]:
            return (base, starts[i])
        return (base, vaddr)


class Stacks:
    """Samples as [(weight, [function id, ...leaf first])] with a name for each function id."""

    def __init__(self):
        self.samples = []
        self.names = {}

    def add(self, weight, frames):
        ids = []
        for fid, name in frames:
            ids.append(fid)
            if name and not name.startswith("[unknown]"):
                self.names.setdefault(fid, name)
        if ids:
            self.samples.append((weight, ids))

    def total(self):
        return sum(w for w, _ in self.samples)

    def name(self, fid):
        return self.names.get(fid, "%s@%#x" % fid)

    def share_reaching(self, fids):
        """Share of samples whose stack holds one of the functions `fids`."""
        hit = sum(w for w, ids in self.samples if set(ids) & fids)
        return hit / max(self.total(), 1)

    def function_ids(self, name):
        return {fid for fid, n in self.names.items() if n == name}

    def leaf_shares(self):
        shares = collections.Counter()
        for w, ids in self.samples:
            shares[ids[0]] += w
        total = max(self.total(), 1)
        return {fid: w / total for fid, w in shares.items()}

    def pair_shares(self):
        """Shares of (leaf, caller) pairs, the caller None for one-frame stacks."""
        shares = collections.Counter()
        for w, ids in self.samples:
            shares[(ids[0], ids[1] if len(ids) > 1 else None)] += w
        total = max(self.total(), 1)
        return {pair: w / total for pair, w in shares.items()}


def agreement(a, b):
    """Overlap of two distributions: sum of min shares (1 = identical, 0 = disjoint)."""
    return sum(min(share, b.get(key, 0.0)) for key, share in a.items())


def perf_record(seconds, frequency, output):
    """Starts `perf record -a --call-graph dwarf` for `seconds`; returns the Popen.

    Per CPU (-a), as profd samples: perf's per-task cpu-clock (-p PID) fires when a task that
    blocks often is scheduled back in, so 46% of redis-server's samples land in
    finish_task_switch (and its epoll_wait) with -p, 1% with -a. 32 KiB of stack per sample: sqlite3
    needs more than perf's default 8 KiB to reach main."""
    return subprocess.Popen(["perf", "record", "-q", "-a", "-F", str(frequency), "--call-graph",
                             "dwarf,32768", "-o", output, "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def file_mappings(pid):
    """The process's file mappings from /proc/PID/maps: [(start, end, offset, path)]."""
    out = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5].startswith("/"):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                out.append((start, end, int(fields[2], 16), fields[5]))
    return out


def perf_stacks(perf_data, index, pid, mappings):
    """User stacks of perf.data's samples of `pid`, physical frames only; `mappings` are the
    process's file_mappings() (perf -G prints the leaf's runtime address).

    The leaf is the sample's own ip (`perf script -G`): perf 6.1 drops a callchain's first frame
    where it takes the address for inlined code (libc's ifunc'd memcpy), leaving the caller as leaf."""
    def run(args):
        return subprocess.run(["perf", "script", "--no-inline", "--pid", str(pid), "-i",
                               perf_data, "-F", "pid,ip,sym,dso"] + args, capture_output=True, text=True,
                              errors="replace", check=True).stdout

    frame_re = re.compile(r"^\s*([0-9a-f]+) (.*) \((.*)\)$")

    def frame(address, name, dso):
        if dso.startswith("[kernel") or address >= KERNEL_START:
            return None
        name = re.sub(r"\+0x[0-9a-f]+$", "", name)
        # perf prints a file's frames as file offsets (map-relative), not ELF addresses.
        fid = (index.function(dso, index.vaddr(dso, address)) if dso.startswith("/")
               else (dso, address))
        return (fid, name)

    def file_offset(address):
        for start, end, offset, path in mappings:
            if start <= address < end:
                return address - start + offset
        return address

    leaves = []
    for line in run(["-G"]).splitlines():
        m = re.match(r"^\s*(\d+)\s+([0-9a-f]+) (.*) \((.*)\)$", line)
        leaves.append(frame(file_offset(int(m.group(2), 16)), m.group(3), m.group(4))
                      if m else None)
    stacks = Stacks()
    blocks = [b for b in run([]).split("\n\n") if b.strip()]
    for leaf, block in zip(leaves, blocks):
        lines = block.splitlines()
        if lines[0].split()[0] != str(pid):
            continue
        frames = []
        for line in lines[1:]:
            m = frame_re.match(line)
            if m:
                f = frame(int(m.group(1), 16), m.group(2), m.group(3))
                if f:
                    frames.append(f)
        if leaf is not None and (not frames or frames[0][0] != leaf[0]):
            frames.insert(0, leaf)
        stacks.add(1, frames)
    return stacks


def python_eval_frame(index, interpreter):
    """The frame perf names for CPython's eval loop in `interpreter` (its path): what profd's Python
    frames stand for, each run of them one native _PyEval_EvalFrameDefault."""
    out = subprocess.run(["nm", "-D", "--defined-only", interpreter], capture_output=True,
                         text=True).stdout
    m = re.search(r"^([0-9a-f]+) T _PyEval_EvalFrameDefault$", out, re.M)
    return (index.function(interpreter, int(m.group(1), 16)), "_PyEval_EvalFrameDefault")


def profd_stacks(profile, index, sample_index="samples", python_eval=None):
    """User stacks of a profd profile through `go tool pprof -raw`, physical frames only. With
    `python_eval` (python_eval_frame's), each run of Python frames becomes that one native frame, as
    perf sees the interpreter."""
    text = pprof(["-raw", "-sample_index=" + sample_index, profile])
    mappings = {}
    for m in re.finditer(r"^(\d+): (0x[0-9a-f]+)/(0x[0-9a-f]+)/(0x[0-9a-f]+) (\S*)", text, re.M):
        mappings[int(m.group(1))] = (int(m.group(2), 16), int(m.group(4), 16), m.group(5))
    section = text.split("\nLocations\n", 1)[1].split("\nMappings\n", 1)[0]
    locations = {}
    current = None
    for line in section.splitlines():
        m = re.match(r"^\s+(\d+): (0x[0-9a-f]+)(?: M=(\d+))? ?(.*)$", line)
        if m:
            current = int(m.group(1))
            address = int(m.group(2), 16)
            mapping = mappings.get(int(m.group(3))) if m.group(3) else None
            locations[current] = [address, mapping, m.group(4)]
        elif current is not None:
            locations[current][2] = line.strip()  # an inline caller: the physical frame is last
    frame_of = {}
    for lid, (address, mapping, desc) in locations.items():
        name = re.sub(r" \S*:\d+ s=\d+.*$", "", desc)
        if address >= KERNEL_START or (mapping and mapping[2] == "[kernel.kallsyms]"):
            frame_of[lid] = None
        elif mapping and mapping[2].startswith("/"):
            start, offset, path = mapping
            vaddr = index.vaddr(path, address - start + offset)
            frame_of[lid] = (index.function(path, vaddr), name)
        elif python_eval and mapping and mapping[2].startswith("[python"):
            frame_of[lid] = python_eval
        else:
            frame_of[lid] = ((mapping[2] if mapping else "", address), name)
    stacks = Stacks()
    samples = text.split("\nSamples:\n", 1)[1].split("\nLocations\n", 1)[0]
    for m in re.finditer(r"^\s+(\d+)\s+[-\d]+: ([\d ]+)$", samples, re.M):
        frames = [frame_of[int(i)] for i in m.group(2).split()]
        frames = [f for i, f in enumerate(frames)
                  if f is not None and not (python_eval and f is python_eval and i > 0 and
                                            frames[i - 1] is python_eval)]
        stacks.add(int(m.group(1)), frames)
    return stacks


def compare(perf, profd, reach):
    """Figures for a report: shares of stacks reaching `reach` (a function name), top leaf shares
    and (leaf, caller) pair agreement."""
    targets = perf.function_ids(reach) | profd.function_ids(reach)
    perf_leaves, profd_leaves = perf.leaf_shares(), profd.leaf_shares()
    top = sorted(perf_leaves, key=perf_leaves.get, reverse=True)[:10]
    return {
        "perf_samples": perf.total(),
        "profd_samples": profd.total(),
        "perf_reach": perf.share_reaching(targets),
        "profd_reach": profd.share_reaching(targets),
        "top_leaves": [(perf.name(f), perf_leaves[f], profd_leaves.get(f, 0.0)) for f in top],
        "leaf_agreement": agreement(perf_leaves, profd_leaves),
        "pair_agreement": agreement(perf.pair_shares(), profd.pair_shares()),
    }


def report(name, figures):
    lines = ["%s: perf %d samples, profd %d; reaching main: perf %.1f%%, profd %.1f%%; "
             "leaf agreement %.1f%%, (leaf, caller) agreement %.1f%%" % (
                 name, figures["perf_samples"], figures["profd_samples"],
                 100 * figures["perf_reach"], 100 * figures["profd_reach"],
                 100 * figures["leaf_agreement"], 100 * figures["pair_agreement"])]
    for fname, a, b in figures["top_leaves"]:
        lines.append("    %-50s perf %5.1f%%  profd %5.1f%%" % (fname[:50], 100 * a, 100 * b))
    return "\n".join(lines)
