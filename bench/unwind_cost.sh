#!/usr/bin/env bash
# Per-sample BPF cost of DWARF unwinding vs frame pointers (kernel BPF stats, `profd --bpf-stats`), on
# a deep stack through glibc (unwind-cases libc: 21 frames) and a shallow one (cpu-split: 4 frames);
# median of ROUNDS 5-second profiles at 999 Hz each. Then the kernel memory of the unwind tables in a
# host-wide (--all) profile. Then where the DWARF walk's time goes, by phase (the BPF program's own
# clock reads with --bpf-stats; medians over the rounds).
# usage: bench/unwind_cost.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
profd=$build/daemon/profd
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
cost() {  # $1: unwind mode, rest: workload argv -> us per sample
  local mode=$1
  shift
  "$@" >/dev/null &
  local pid=$!
  sleep 0.3
  "$profd" --pid "$pid" --seconds 5 --frequency 999 --unwind "$mode" --bpf-stats -q \
    -o "$tmp/c.pb.gz" 2>&1 | sed -n 's/.*, \([0-9.]*\) us per sample taken/\1/p'
  # user walk, user store, kernel walk, kernel store, count (us per sample)
  go tool pprof -comments "$tmp/c.pb.gz" 2>/dev/null |
    sed -n 's/.*user walk \([0-9.]*\) us, user store \([0-9.]*\) us, kernel walk \([0-9.]*\) us, kernel store \([0-9.]*\) us, count \([0-9.]*\) us.*/\1 \2 \3 \4 \5/p' \
    >>"$tmp/phases-$mode"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

echo "| stack | --unwind dwarf (us/sample) | --unwind fp (us/sample) | frames (dwarf) |"
echo "|---|---|---|---|"
for case in "libc:$build/tests/workloads/unwind-cases-nofp-pie libc:21" \
            "cpu-split:$build/tests/workloads/cpu-split 600:4"; do
  IFS=: read -r name argv frames <<<"$case"
  : >"$tmp/d"; : >"$tmp/f"; : >"$tmp/phases-dwarf"; : >"$tmp/phases-fp"
  for ((i = 1; i <= rounds; i++)); do
    # shellcheck disable=SC2086
    cost dwarf $argv >>"$tmp/d"
    # shellcheck disable=SC2086
    cost fp $argv >>"$tmp/f"
  done
  echo "| $name | $(median <"$tmp/d") | $(median <"$tmp/f") | $frames |"
  for mode in dwarf fp; do
    phases=""
    for column in 1 2 3 4 5; do
      phases+=" $(awk -v c=$column '{print $c}' "$tmp/phases-$mode" | median) |"
    done
    echo "$name $mode" >>"$tmp/phase-rows"
    echo "|$phases" >>"$tmp/phase-rows"
  done
done

echo
echo "| stack, unwinding | user walk | user store | kernel walk | kernel store | count (us/sample) |"
echo "|---|---|---|---|---|---|"
paste -d' ' - - <"$tmp/phase-rows" | sed 's/^\([^|]*\) |/| \1 |/'

echo
"$profd" --all --seconds 10 -q -o "$tmp/all.pb.gz" >/dev/null 2>&1
go tool pprof -comments "$tmp/all.pb.gz" 2>/dev/null | grep -E "unwound|processes" || true
