#!/usr/bin/env bash
# Issue 4 benchmarks, interleaved rounds, medians:
#  1. a context-switch-heavy program (pipe ping-pong between two threads) unprofiled, under
#     `profd --type block` on its pid, and under `perf record -e sched:sched_switch -g` (perf's own
#     off-CPU anchor: it records every switch);
#  2. an uncontended lock loop (pthread_mutex_lock/unlock) unprofiled and under `profd --type mutex`;
#  3. bystanders: the ping-pong program, and a loop of cheap system calls, while profd profiles
#     *another* process with block or mutex. With OLD_PROFD=path, the same rows for that binary too
#     (an earlier design, side by side in the same run).
# usage: [OLD_PROFD=…] bench/wait_profiles.sh [BUILD_DIR] [ROUNDS] [SECONDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
seconds=${3:-5}
bench=$build/tests/workloads/switch-bench
profd=$build/daemon/profd
old=${OLD_PROFD:-}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

ops() { awk '/ops_per_second/ {print $2}'; }
plain() { "$bench" "$1" "$seconds" | ops; }
profiled() {  # $1 mode, $2 profile type, [$3 profd binary]
  "$bench" "$1" "$seconds" >"$tmp/out" &
  local pid=$!
  "${3:-$profd}" --pid "$pid" --type "$2" --seconds "$((seconds + 5))" -q -o "$tmp/p.pb.gz" >/dev/null 2>&1 &
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
bystander() {  # $1 profd binary, $2 profile type, $3 bystander's mode
  sleep 600 &
  local other=$!
  "$1" --pid "$other" --type "$2" --seconds "$((seconds + 5))" -q -o "$tmp/o.pb.gz" \
    >/dev/null 2>&1 &
  local profd_pid=$!
  sleep 0.5
  "$bench" "$3" "$seconds" | ops
  kill -INT "$profd_pid" 2>/dev/null || true
  wait "$profd_pid" 2>/dev/null || true
  kill "$other"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

runs="pp pp_block pp_perf lock lock_mutex sys pp_by_block pp_by_mutex sys_by_block sys_by_mutex"
[[ -n $old ]] && runs="$runs old_pp_block old_lock_mutex old_pp_by_block old_pp_by_mutex old_sys_by_block old_sys_by_mutex"
for f in $runs; do : >"$tmp/$f"; done
for ((i = 1; i <= rounds; i++)); do
  plain pingpong >>"$tmp/pp"
  profiled pingpong block >>"$tmp/pp_block"
  perf_offcpu >>"$tmp/pp_perf"
  plain lock >>"$tmp/lock"
  profiled lock mutex >>"$tmp/lock_mutex"
  plain syscalls >>"$tmp/sys"
  if [[ -n $old ]]; then
    profiled pingpong block "$old" >>"$tmp/old_pp_block"
    profiled lock mutex "$old" >>"$tmp/old_lock_mutex"
  fi
  for type in block mutex; do
    bystander "$profd" $type pingpong >>"$tmp/pp_by_$type"
    bystander "$profd" $type syscalls >>"$tmp/sys_by_$type"
    if [[ -n $old ]]; then
      bystander "$old" $type pingpong >>"$tmp/old_pp_by_$type"
      bystander "$old" $type syscalls >>"$tmp/old_sys_by_$type"
    fi
  done
done
row() { awk -v n="$1" -v b="$(median <"$tmp/$2")" -v v="$(median <"$tmp/$3")" \
  'BEGIN {printf "| %s | %.0f | %.0f | %.3f |\n", n, b, v, v / b}'; }
echo "| workload, condition | unprofiled ops/s | profiled ops/s | ratio |"
echo "|---|---|---|---|"
row "pipe ping-pong, profd --type block on it" pp pp_block
row "pipe ping-pong, perf record -e sched:sched_switch -g" pp pp_perf
row "uncontended mutex loop, profd --type mutex on it" lock lock_mutex
if [[ -n $old ]]; then
  row "pipe ping-pong, OLD_PROFD --type block on it" pp old_pp_block
  row "uncontended mutex loop, OLD_PROFD --type mutex on it" lock old_lock_mutex
fi
for type in block mutex; do
  row "bystander: pipe ping-pong, profd --type $type on another pid" pp pp_by_$type
  row "bystander: getppid loop, profd --type $type on another pid" sys sys_by_$type
  if [[ -n $old ]]; then
    row "bystander: pipe ping-pong, OLD_PROFD --type $type on another pid" pp old_pp_by_$type
    row "bystander: getppid loop, OLD_PROFD --type $type on another pid" sys old_sys_by_$type
  fi
done
