#!/usr/bin/env bash
# Issue 5 benchmarks, interleaved rounds, medians. A fixed number of malloc/free pairs
# (heap-split fixed), timed by the workload itself after a 2 s start delay (profd attaches in it):
#  heavy:    no work between pairs (glibc's tcache: over 100 M pairs/s unprofiled);
#  moderate: about 20 us of arithmetic per pair (about 45 k pairs/s unprofiled, a real program's rate).
# Conditions: unprofiled; `profd --type allocs` at the defaults (512 KiB sampling, --max-overhead 3);
# profd with the probes always on (--max-overhead 100, moderate only: heavy would take hours);
# heaptrack (LD_PRELOAD, every call; heavy uses 1/10 of the pairs and is compared per pair).
# Also: profd's alloc_space for fixed_work against the true bytes, and the probe figures it reports.
# usage: bench/heap_cost.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
workload=$build/tests/workloads/heap-split
profd=$build/daemon/profd
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
heavy_pairs=1000000000
heavy_heaptrack_pairs=100000000
moderate_pairs=300000
moderate_work=22000

seconds_taken() { awk '/^fixed:/ {print $5}'; }
plain() { "$workload" fixed 2 0 "$1" "$2" | seconds_taken; }
profiled() {  # $1 pairs, $2 work, $3 max overhead, $4 name for the profile
  "$workload" fixed 2 0 "$1" "$2" >"$tmp/out" &
  local pid=$!
  "$profd" --pid "$pid" --type allocs --seconds 3600 --max-overhead "$3" -q \
    -o "$tmp/$4.pb.gz" >/dev/null 2>&1 &
  local profd_pid=$!
  wait "$pid"
  wait "$profd_pid" 2>/dev/null || true  # profd ends when its target exits
  seconds_taken <"$tmp/out"
}
heaptracked() { heaptrack -o "$tmp/ht" "$workload" fixed 2 0 "$1" "$2" 2>/dev/null | seconds_taken; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for f in h h_profd h_ht m m_profd m_always m_ht; do : >"$tmp/$f"; done
for ((i = 1; i <= rounds; i++)); do
  plain $heavy_pairs 0 >>"$tmp/h"
  profiled $heavy_pairs 0 3 heavy >>"$tmp/h_profd"
  heaptracked $heavy_heaptrack_pairs 0 >>"$tmp/h_ht"
  plain $moderate_pairs $moderate_work >>"$tmp/m"
  profiled $moderate_pairs $moderate_work 3 moderate >>"$tmp/m_profd"
  profiled $moderate_pairs $moderate_work 100 always >>"$tmp/m_always"
  heaptracked $moderate_pairs $moderate_work >>"$tmp/m_ht"
done

# Seconds per pair relative to unprofiled, so runs with fewer pairs compare.
row() {  # name, unprofiled file, its pairs, profiled file, its pairs
  awk -v n="$1" -v b="$(median <"$tmp/$2")" -v bp="$3" -v v="$(median <"$tmp/$4")" -v vp="$5" \
    'BEGIN {printf "| %s | %.0f | %.0f | %.3f |\n", n, bp / b, vp / v, (v / vp) / (b / bp)}'
}
echo "| workload, condition | unprofiled pairs/s | profiled pairs/s | slowdown (time per pair) |"
echo "|---|---|---|---|"
row "heavy, profd allocs (defaults)" h $heavy_pairs h_profd $heavy_pairs
row "heavy, heaptrack" h $heavy_pairs h_ht $heavy_heaptrack_pairs
row "moderate, profd allocs (defaults)" m $moderate_pairs m_profd $moderate_pairs
row "moderate, profd allocs --max-overhead 100" m $moderate_pairs m_always $moderate_pairs
row "moderate, heaptrack" m $moderate_pairs m_ht $moderate_pairs

# What profd reported (last round), and its alloc_space for fixed_work against the true bytes:
# pair n allocates 64 + (n & 255) bytes, 191.5 on average.
for name in heavy moderate always; do
  pairs=$([[ $name == heavy ]] && echo $heavy_pairs || echo $moderate_pairs)
  bytes=$(go tool pprof -raw -sample_index=alloc_space "$tmp/$name.pb.gz" 2>/dev/null |
    awk '/^Samples:/ {s = 1; next} /^Locations/ {s = 0} s && /^ +[0-9]+ +[0-9]+/ {t += $2} END {print t + 0}')
  echo
  echo "$name: profd alloc_space $bytes bytes, true $(awk -v p="$pairs" 'BEGIN {printf "%.0f", p * 191.5}'), ratio $(awk -v b="$bytes" -v p="$pairs" 'BEGIN {printf "%.3f", b / (p * 191.5)}')"
  go tool pprof -comments "$tmp/$name.pb.gz" 2>/dev/null | grep -E "probe cost|duty-cycled" || true
done
