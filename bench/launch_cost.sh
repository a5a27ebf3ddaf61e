#!/usr/bin/env bash
# Issue 14 benchmarks: what launch mode costs the command it runs, interleaved rounds, medians.
#  allocs: heap-split fixed (a fixed number of malloc/free pairs, timed by the workload itself) with
#   no work between pairs (heavy) and about 20 us of arithmetic per pair (moderate), unprofiled;
#   `profd --type allocs -- CMD` (the preload sampler, default 512 KiB rate); the uprobe path at its
#   defaults (`profd --pid` on the same workload started with a 2 s delay, --max-overhead 3);
#   heaptrack (every call). The alloc_space profd reports for fixed_work against the true bytes.
#  cpu: cpu-split's rounds per second for 5 s, unprofiled, under `profd --type cpu -- CMD` and
#   under `perf record -F 99 -g -- CMD`.
# usage: bench/launch_cost.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
heap=$build/tests/workloads/heap-split
split=$build/tests/workloads/cpu-split
profd=$build/daemon/profd
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
heavy_pairs=200000000
moderate_pairs=300000
moderate_work=22000

seconds_taken() { awk '/^fixed:/ {print $5}'; }
plain() { "$heap" fixed 0 0 "$1" "$2" | seconds_taken; }
launched() { "$profd" --type allocs -q -o "$tmp/$3.pb.gz" -- "$heap" fixed 0 0 "$1" "$2" 2>/dev/null | seconds_taken; }
attached() {  # the uprobe path: profd attaches during the workload's 2 s delay
  "$heap" fixed 2 0 "$1" "$2" >"$tmp/out" &
  local pid=$!
  "$profd" --pid "$pid" --type allocs --seconds 3600 -q -o "$tmp/$3.pb.gz" >/dev/null 2>&1 &
  local profd_pid=$!
  wait "$pid"
  wait "$profd_pid" 2>/dev/null || true
  seconds_taken <"$tmp/out"
}
heaptracked() { heaptrack -o "$tmp/ht" "$heap" fixed 0 0 "$1" "$2" 2>/dev/null | seconds_taken; }
rounds_per_second() { awk '/^rounds_per_second/ {print $2}'; }
# Debian's sqlite3 building a 400,000-row table and its index in memory (about 1.2 M allocation
# calls), launched itself (stdin the script): the seconds its statements take by its own .timer,
# so profd's start-up and symbolization and heaptrack's start-up are not counted.
sql=$tmp/build.sql
{
  echo ".timer on"
  echo "CREATE TABLE t(k TEXT, v INTEGER);"
  echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)"
  echo "INSERT INTO t(k, v) SELECT printf('key-%d', (x * 7919) % 1000003), x FROM c;"
  echo "CREATE INDEX i ON t(k);"
} >"$sql"
statement_seconds() { awk '/^Run Time: real/ {t += $4} END {print t}'; }
sqlite_plain() { sqlite3 :memory: <"$sql" 2>/dev/null | statement_seconds; }
sqlite_launched() {
  "$profd" --type allocs -q -o "$tmp/sqlite.pb.gz" -- sqlite3 :memory: <"$sql" 2>/dev/null | statement_seconds
}
sqlite_heaptrack() { heaptrack -o "$tmp/ht-sqlite" sqlite3 :memory: <"$sql" 2>/dev/null | statement_seconds; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for f in h h_launch h_attach h_ht m m_launch m_attach m_ht c c_profd c_perf s s_launch s_ht; do : >"$tmp/$f"; done
for ((i = 1; i <= rounds; i++)); do
  plain $heavy_pairs 0 >>"$tmp/h"
  launched $heavy_pairs 0 heavy >>"$tmp/h_launch"
  attached $heavy_pairs 0 heavy_attached >>"$tmp/h_attach"
  heaptracked $((heavy_pairs / 10)) 0 | awk '{print $1 * 10}' >>"$tmp/h_ht"
  plain $moderate_pairs $moderate_work >>"$tmp/m"
  launched $moderate_pairs $moderate_work moderate >>"$tmp/m_launch"
  attached $moderate_pairs $moderate_work moderate_attached >>"$tmp/m_attach"
  heaptracked $moderate_pairs $moderate_work >>"$tmp/m_ht"
  sqlite_plain >>"$tmp/s"
  sqlite_launched >>"$tmp/s_launch"
  sqlite_heaptrack >>"$tmp/s_ht"
  "$split" 5 | rounds_per_second >>"$tmp/c"
  "$profd" --type cpu -q -o "$tmp/cpu.pb.gz" -- "$split" 5 2>/dev/null | rounds_per_second >>"$tmp/c_profd"
  perf record -q -F 99 -g -o "$tmp/perf.data" -- "$split" 5 2>/dev/null | rounds_per_second >>"$tmp/c_perf"
done

row() {  # name, unprofiled seconds file, profiled seconds file
  awk -v n="$1" -v b="$(median <"$tmp/$2")" -v v="$(median <"$tmp/$3")" \
    'BEGIN {printf "| %s | %.3f | %.3f | %.3f |\n", n, b, v, v / b}'
}
echo "| workload, condition | unprofiled s | profiled s | slowdown |"
echo "|---|---|---|---|"
row "heavy ($heavy_pairs pairs), profd --type allocs -- (preload sampler)" h h_launch
row "heavy, profd --pid --type allocs (uprobes, --max-overhead 3)" h h_attach
row "heavy, heaptrack (1/10 of the pairs, x10)" h h_ht
row "moderate ($moderate_pairs pairs, 20 us work each), profd --type allocs --" m m_launch
row "moderate, profd --pid --type allocs (uprobes, --max-overhead 3)" m m_attach
row "moderate, heaptrack" m m_ht
row "sqlite3, 400,000 rows and an index (its statements), profd --type allocs --" s s_launch
row "sqlite3, heaptrack" s s_ht
echo
echo "| cpu-split 5 s | rounds/s (median) | slowdown |"
echo "|---|---|---|"
b=$(median <"$tmp/c")
for f in c:unprofiled c_profd:"profd --type cpu --" c_perf:"perf record -F 99 -g --"; do
  awk -v n="${f#*:}" -v b="$b" -v v="$(median <"$tmp/${f%%:*}")" \
    'BEGIN {printf "| %s | %.1f | %.3f |\n", n, v, b / v}'
done

# alloc_space of fixed_work against the truth: pair n allocates 64 + (n & 255) bytes, 191.5 on average.
echo
for name in heavy heavy_attached moderate moderate_attached; do
  pairs=$([[ $name == heavy* ]] && echo $heavy_pairs || echo $moderate_pairs)
  bytes=$(go tool pprof -raw -sample_index=alloc_space "$tmp/$name.pb.gz" 2>/dev/null |
    awk '/^Samples:/ {s = 1; next} /^Locations/ {s = 0} s && /^ +[0-9]+ +[0-9]+/ {t += $2} END {print t + 0}')
  echo "$name: alloc_space / true bytes = $(awk -v b="$bytes" -v p="$pairs" 'BEGIN {printf "%.3f", b / (p * 191.5)}')"
done

# sqlite3's allocations: profd's estimate against heaptrack's count of every call (last round;
# heaptrack's size histogram: "size count" lines).
ht=$(ls "$tmp"/ht-sqlite* 2>/dev/null | head -1)
if [[ -n $ht ]]; then
  heaptrack_print -f "$ht" -p 0 -a 0 -T 0 -H "$tmp/hist" >/dev/null 2>&1
  read -r calls truth < <(awk '{c += $2; b += $1 * $2} END {printf "%d %d\n", c, b}' "$tmp/hist")
  read -r objs est < <(go tool pprof -raw "$tmp/sqlite.pb.gz" 2>/dev/null |
    awk '/^Samples:/ {s = 1; next} /^Locations/ {s = 0} s && /^ +[0-9]+ +[0-9]+/ {o += $1; b += $2} END {printf "%d %d\n", o, b}')
  echo "sqlite3: heaptrack $calls calls, $truth bytes; profd (preload sampler, default rate) $objs objects ($(awk -v a="$objs" -v b="$calls" 'BEGIN {printf "%.3f", a / b}')), $est bytes ($(awk -v a="$est" -v b="$truth" 'BEGIN {printf "%.3f", a / b}'))"
fi
