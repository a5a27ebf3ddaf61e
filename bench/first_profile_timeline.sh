#!/usr/bin/env bash
# Where a one-shot profile's time goes before and after its window (issue 17): runs
# `profd --pid P --seconds 1` under `strace -f -tt -T` RUNS times and prints, per run, the
# milliseconds from profd's exec to its first BPF syscall, to the end of its CPU program's load (the
# verifier), to the last perf event opened (the window starts about there), and from the window's
# end to profd's exit. strace slows every syscall: the phases are larger than without it, and their
# order and rough shares are the finding.
# usage: [RUNS=5] bench/first_profile_timeline.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
runs=${RUNS:-5}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$build/tests/workloads/cpu-split" 3600 >/dev/null &
target=$!
sleep 0.5
printf '%s\n' "| run | start to first BPF call | its main program loaded (verifier) | last perf event opened | after the window to exit | total |" \
  "|---|---|---|---|---|---|"
for run in $(seq "$runs"); do
  strace -f -tt -T -e trace=execve,bpf,perf_event_open,exit_group -o "$tmp/trace" \
    "$build/daemon/profd" --pid "$target" --seconds 1 -q -o "$tmp/p.pb.gz" >/dev/null 2>&1
  python3 - "$tmp/trace" "$run" <<'PY'
import sys
import re
def seconds(line, finished=False):
    h, m, s = line.split()[1].split(":")
    t = int(h) * 3600 + int(m) * 60 + float(s)
    took = re.search(r"<([0-9.]+)>\s*$", line)
    return t + (float(took.group(1)) if finished and took else 0)
lines = [l for l in open(sys.argv[1]) if l.split()[1:2] and ":" in l.split()[1]]
start = min(seconds(l) for l in lines if "execve(" in l)
bpf = [seconds(l) for l in lines if "bpf(" in l]
main = [seconds(l, True) for l in lines if 'prog_name="profd_cpu_sampl"' in l]
perf = [seconds(l, True) for l in lines if "perf_event_open(" in l]
end = max(seconds(l) for l in lines if "exit_group" in l)
window_end = perf[-1] + 1.0
ms = lambda t: "%.0f ms" % (1000 * t)
print("| %s | %s | %s | %s | %s | %s |" % (sys.argv[2], ms(bpf[0] - start), ms(main[-1] - start),
      ms(perf[-1] - start), ms(end - window_end), ms(end - start)))
PY
done
