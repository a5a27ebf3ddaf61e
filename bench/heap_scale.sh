#!/usr/bin/env bash
# Issue 11 (defect 6): how right a duty-cycled allocs profile's totals are. The moderate loop of
# heap_cost.sh (300,000 malloc/free pairs of 191.5 B on average, ~20 us of arithmetic each) under
# `profd --pid --type allocs` at the default budget (--max-overhead 3), at the default 512 KiB
# sampling and at 4 KiB (whose own sampling error is ~1%, so what is left is the duty-cycle
# scale's). Prints each round's alloc_objects and alloc_space over the truth, the scale and its
# stated standard error, then the medians.
# usage: bench/heap_scale.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
workload=$build/tests/workloads/heap-split
profd=$build/daemon/profd
pairs=300000
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

round() {  # $1 label, then profd's extra arguments
  local label=$1
  shift
  "$workload" fixed 2 0 $pairs 22000 >/dev/null &
  local pid=$!
  "$profd" --pid "$pid" --type allocs --seconds 3600 -q "$@" -o "$tmp/p.pb.gz" >/dev/null 2>&1 &
  local profd_pid=$!
  wait "$pid"
  wait "$profd_pid" 2>/dev/null || true  # profd ends when its target exits
  local objects bytes
  read -r objects bytes < <(go tool pprof -raw "$tmp/p.pb.gz" 2>/dev/null |
    awk '/^Samples:/ {s = 1; next} /^Locations/ {s = 0} s && /^ +[0-9]+ +[0-9]+/ {o += $1; t += $2} END {print o + 0, t + 0}')
  local stated
  stated=$(go tool pprof -comments "$tmp/p.pb.gz" 2>/dev/null | grep -o 'scaled by [0-9.]*\|standard error [0-9]*%' | tr '\n' ' ')
  awk -v l="$label" -v o="$objects" -v b="$bytes" -v p=$pairs -v s="$stated" \
    'BEGIN {printf "%s objects %.3f space %.3f  %s\n", l, o / p, b / (p * 191.5), s}'
}

for ((i = 1; i <= rounds; i++)); do
  round "512KiB" | tee -a "$tmp/default"
  round "4KiB" --sample-rate 4KiB | tee -a "$tmp/fine"
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for f in default fine; do
  echo "$f: median objects $(awk '{print $3}' "$tmp/$f" | median), space $(awk '{print $5}' "$tmp/$f" | median)"
done
