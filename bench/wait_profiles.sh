#!/usr/bin/env bash
# Issue 4 benchmarks, interleaved rounds, medians:
#  1. a context-switch-heavy program (pipe ping-pong between two threads) unprofiled, under
#     `profd --type block` on its pid, and under `perf record -e sched:sched_switch -g` (perf's own
#     off-CPU anchor: it records every switch);
#  2. an uncontended lock loop (pthread_mutex_lock/unlock) unprofiled and under `profd --type mutex`;
#  3. the ping-pong program while profd profiles *another* process (block): the cost to bystanders.
# usage: bench/wait_profiles.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
seconds=${3:-5}
bench=$build/tests/workloads/switch-bench
profd=$build/daemon/profd
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

ops() { awk '/ops_per_second/ {print $2}'; }
plain() { "$bench" "$1" "$seconds" | ops; }
profiled() {  # $1 mode, $2 profile type
  "$bench" "$1" "$seconds" >"$tmp/out" &
  local pid=$!
  "$profd" --pid "$pid" --type "$2" --seconds "$((seconds + 5))" -q -o "$tmp/p.pb.gz" >/dev/null 2>&1 &
  local profd_pid=$!
  wait "$pid"
  kill -INT "$profd_pid" 2>/dev/null || true
  wait "$profd_pid" 2>/dev/null || true
  ops <"$tmp/out"
}
perf_offcpu() {
  perf record -e sched:sched_switch -g -o "$tmp/perf.data" -- "$bench" pingpong "$seconds" \
    2>/dev/null | ops
}
bystander() {
  sleep 600 &
  local other=$!
  "$profd" --pid "$other" --type block --seconds "$((seconds + 5))" -q -o "$tmp/o.pb.gz" \
    >/dev/null 2>&1 &
  local profd_pid=$!
  sleep 0.5
  "$bench" pingpong "$seconds" | ops
  kill -INT "$profd_pid" 2>/dev/null || true
  wait "$profd_pid" 2>/dev/null || true
  kill "$other"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for f in pp pp_block pp_perf lock lock_mutex pp_bystander; do : >"$tmp/$f"; done
for ((i = 1; i <= rounds; i++)); do
  plain pingpong >>"$tmp/pp"
  profiled pingpong block >>"$tmp/pp_block"
  perf_offcpu >>"$tmp/pp_perf"
  bystander >>"$tmp/pp_bystander"
  plain lock >>"$tmp/lock"
  profiled lock mutex >>"$tmp/lock_mutex"
done
row() { awk -v n="$1" -v b="$(median <"$tmp/$2")" -v v="$(median <"$tmp/$3")" \
  'BEGIN {printf "| %s | %.0f | %.0f | %.3f |\n", n, b, v, v / b}'; }
echo "| workload, condition | unprofiled ops/s | profiled ops/s | ratio |"
echo "|---|---|---|---|"
row "pipe ping-pong, profd --type block on it" pp pp_block
row "pipe ping-pong, perf record -e sched:sched_switch -g" pp pp_perf
row "pipe ping-pong, profd --type block on another pid" pp pp_bystander
row "uncontended mutex loop, profd --type mutex on it" lock lock_mutex
