#!/usr/bin/env bash
# BPF time per CPU sample of two profd binaries side by side (issue 17): the kernel's BPF run-time
# statistics (`--bpf-stats`) of 5-second profiles at 999 Hz with DWARF unwinding, the two binaries
# alternating round by round on the same workload process so host noise hits both alike. Workloads:
# cpu-split (a C program without frame pointers: hot_function, main, __libc_start_call_main,
# __libc_start_main, _start), unwind-cases libc (21 frames through glibc's qsort) and section
# 14's python_split.py (DWARF through CPython 3.11, its Python frames in place of the eval
# frames). Prints the median, min and max per sample, then the per-phase medians (the program's
# own clock reads between phases, which `--bpf-stats` turns on: the totals include them, as in
# section 11's figures).
# usage (from the source tree): bench/unwind_cost_compare.sh OLD_PROFD NEW_PROFD [BUILD_DIR] [ROUNDS]
set -euo pipefail
old=$1
new=$2
build=${3:-build}
rounds=${4:-7}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
range() { sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {print lo "-" hi}'; }
# $1: profd, $2: pid, $3: output prefix -> appends us/sample to $3.us and the phases to $3.phases
run() {
  "$1" --pid "$2" --seconds 5 --frequency 999 --unwind dwarf --bpf-stats -q -o "$tmp/c.pb.gz" 2>&1 |
    sed -n 's/.*, \([0-9.]*\) us per sample taken/\1/p' >>"$3.us"
  go tool pprof -comments "$tmp/c.pb.gz" 2>/dev/null |
    sed -n 's/.*user walk \([0-9.]*\) us, user store \([0-9.]*\) us, kernel walk \([0-9.]*\) us, kernel store \([0-9.]*\) us, count \([0-9.]*\) us.*/\1 \2 \3 \4 \5/p' \
      >>"$3.phases"
  go tool pprof -traces "$tmp/c.pb.gz" 2>/dev/null | awk '/^-----/ {if (n) print n; n = 0; f = 0; next}
      /^ +[0-9.]+[munh]*s +/ {f = 1; n = !/\(inline\)/; next}
      f && /^ +[^ ]/ && !/\(inline\)/ {n++}
      END {if (n) print n}' |
    sort -n | uniq -c | sort -rn | head -1 | awk '{print $2}' >>"$3.frames"
}

echo "| stack | binary | median us/sample | min-max | frames (most common stack) |"
echo "|---|---|---|---|---|"
for case in "cpu-split:$build/tests/workloads/cpu-split 3600" \
            "libc:$build/tests/workloads/unwind-cases-nofp-pie libc" \
            "python:python3.11 tests/workloads/python_split.py split 3600"; do
  IFS=: read -r name argv <<<"$case"
  # shellcheck disable=SC2086
  $argv >/dev/null &
  pid=$!
  sleep 0.3
  for ((i = 1; i <= rounds; i++)); do
    run "$old" "$pid" "$tmp/$name-old"
    run "$new" "$pid" "$tmp/$name-new"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  for which in old new; do
    echo "| $name | $which | $(median <"$tmp/$name-$which.us") | $(range <"$tmp/$name-$which.us") | $(median <"$tmp/$name-$which.frames") |"
  done
done

echo
echo "| stack | binary | user walk | user store | kernel walk | kernel store | count (us/sample) |"
echo "|---|---|---|---|---|---|---|"
for name in cpu-split libc python; do
  for which in old new; do
    row="| $name | $which |"
    for column in 1 2 3 4 5; do
      row+=" $(awk -v c=$column '{print $c}' "$tmp/$name-$which.phases" | median) |"
    done
    echo "$row"
  done
done
