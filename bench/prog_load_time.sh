#!/usr/bin/env bash
# BPF_PROG_LOAD time of the CPU program in a one-shot profile (issue 17): `profd --pid P --seconds 1`
# of cpu-split under `strace -f -T --seccomp-bpf -e trace=bpf`, each binary in turn, RUNS rounds;
# prints per binary the median (min-max) of the profd_cpu_sample load and of the whole run's wall
# time. The verifier's own statistics per program: bench/verifier_stats.c.
# usage (from the source tree, as root): bench/prog_load_time.sh [BUILD_DIR] [RUNS] PROFD...
set -euo pipefail
build=${1:-build}
runs=${2:-5}
shift 2
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$build/tests/workloads/cpu-split" 3600 >/dev/null &
target=$!
sleep 0.3
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
range() { sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "-" hi}'; }
for ((i = 1; i <= runs; i++)); do
  n=0
  for profd in "$@"; do
    n=$((n + 1))
    start=$(date +%s.%N)
    strace -f -T --seccomp-bpf -e trace=bpf -o "$tmp/strace" \
      "$profd" --pid "$target" --seconds 1 -q -o "$tmp/p.pb.gz" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc >>"$tmp/$n.wall"
    sed -n 's/.*BPF_PROG_LOAD.*prog_name="profd_cpu_sampl".* <\([0-9.]*\)>$/\1/p' "$tmp/strace" \
      | awk '{print $1 * 1000}' >>"$tmp/$n.load"
  done
done
echo "| profd | profd_cpu_sample BPF_PROG_LOAD ms, median (min-max) | whole run s (under strace) |"
echo "|---|---|---|"
n=0
for profd in "$@"; do
  n=$((n + 1))
  echo "| $profd | $(median <"$tmp/$n.load") ($(range <"$tmp/$n.load")) | $(median <"$tmp/$n.wall") |"
done
