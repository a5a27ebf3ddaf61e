#!/usr/bin/env bash
# Benchmark 1: slowdown of a CPU-bound workload (cpu-split, pinned to CPU 0) unprofiled, under
# `profd --pid` at 99 Hz with DWARF unwinding and with frame pointers only, and under
# `perf record -F 99 -g`, in interleaved rounds. Prints medians.
# usage: bench/cpu_overhead.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-7}
seconds=${3:-10}
workload=$build/tests/workloads/cpu-split
profd=$build/daemon/profd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_plain() { taskset -c 0 "$workload" "$seconds" | awk '{print $2}'; }
run_profd() {  # $1: --unwind mode
  taskset -c 0 "$workload" "$seconds" >"$tmp/out" &
  local pid=$!
  "$profd" --pid "$pid" --seconds "$((seconds + 5))" --unwind "$1" -q -o "$tmp/p.pb.gz" \
    >/dev/null 2>&1 &
  local profd_pid=$!
  wait "$pid"
  kill -INT "$profd_pid" 2>/dev/null || true
  wait "$profd_pid" 2>/dev/null || true
  awk '{print $2}' "$tmp/out"
}
run_perf() {
  perf record -F 99 -g -o "$tmp/perf.data" -- taskset -c 0 "$workload" "$seconds" 2>/dev/null |
    awk '/rounds_per_second/ {print $2}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: >"$tmp/plain"; : >"$tmp/dwarf"; : >"$tmp/fp"; : >"$tmp/perf"
for ((i = 1; i <= rounds; i++)); do
  run_plain >>"$tmp/plain"
  run_profd dwarf >>"$tmp/dwarf"
  run_profd fp >>"$tmp/fp"
  run_perf >>"$tmp/perf"
done
plain=$(median <"$tmp/plain")
echo "| condition | rounds/s (median of $rounds x ${seconds}s) | vs unprofiled |"
echo "|---|---|---|"
echo "| unprofiled | $plain | 1.000 |"
for c in dwarf fp perf; do
  v=$(median <"$tmp/$c")
  case $c in
    dwarf) name="profd --pid, 99 Hz, --unwind dwarf (default)" ;;
    fp) name="profd --pid, 99 Hz, --unwind fp" ;;
    perf) name="perf record -F 99 -g" ;;
  esac
  awk -v p="$plain" -v v="$v" -v n="$name" 'BEGIN {printf "| %s | %s | %.4f |\n", n, v, v / p}'
done
