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
# Then the same beside bpftrace (below).
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

# Beside the anchor, in the same windows (when bpftrace is installed; ANCHOR_ROUNDS, default 5, 0: not): on
# cpu-split, each binary's profile while bpftrace runs, on the same perf_event clock, the anchor
# `profile:hz:999 /pid == P/ { @[ustack, kstack] = count(); }` and a floor program that only counts
# (every CPU's samples). profd keeps the kernel's BPF statistics on, so bpftool reads all three
# programs' run times at one moment. Per sample taken for bpftrace is its time per run divided by
# profd's samples taken per run of the same window (both sample every CPU; only the target's
# samples take stacks).
anchor_rounds=${ANCHOR_ROUNDS:-5}
command -v bpftrace >/dev/null && ((anchor_rounds > 0)) || exit 0
echo
# $1: profd -> "profd_us anchor_us floor_ns"
anchor_round() {
  "$build/tests/workloads/cpu-split" 60 >/dev/null &
  local target=$!
  sleep 0.3
  "$1" --pid "$target" --seconds 9 --frequency 999 --unwind dwarf --bpf-stats -q \
    -o "$tmp/p.pb.gz" >"$tmp/profd.out" 2>&1 &
  local profd=$!
  sleep 1
  timeout 12 bpftrace -e "profile:hz:999 /pid == $target/ { @s[ustack, kstack] = count(); }" \
    >/dev/null 2>&1 &
  timeout 12 bpftrace -e 'profile:hz:999 { @c = count(); }' >/dev/null 2>&1 &
  sleep 7.5 # both bpftrace programs attached, profd's window not over
  bpftool prog show -j >"$tmp/progs.json"
  wait "$profd"
  kill "$target"
  wait 2>/dev/null || true
  python3 - "$tmp/profd.out" "$tmp/progs.json" <<'EOF'
import json, re, sys
m = re.search(r'(\d+) runs, (\d+) samples taken, ([0-9.]+) us per sample', open(sys.argv[1]).read())
runs, taken, per_sample = int(m[1]), int(m[2]), float(m[3])
# bpftrace names a profile probe's program by its rate; the two newest are this round's.
mine = sorted((p for p in json.load(open(sys.argv[2]))
               if p.get("type") == "perf_event" and p.get("name") == "999" and p.get("run_cnt")),
              key=lambda p: p["id"])[-2:]
per_run = {p["bytes_xlated"]: p["run_time_ns"] / p["run_cnt"] for p in mine}
floor = min(per_run)  # the counting program is the smaller
anchor = per_run[max(per_run)] / 1000 / (taken / runs)
print(f"{per_sample:.2f} {anchor:.2f} {per_run[floor]:.0f}")
EOF
}

echo "| round | binary | profd us/sample | bpftrace ustack+kstack us/sample | floor ns/run |"
echo "|---|---|---|---|---|"
for ((i = 1; i <= anchor_rounds; i++)); do
  for which in old new; do
    profd=$old
    [[ $which == new ]] && profd=$new
    read -r p a f < <(anchor_round "$profd")
    echo "$p $a $f" >>"$tmp/anchor-$which"
    echo "| $i | $which | $p | $a | $f |"
  done
done
echo
for which in old new; do
  echo "| median | $which | $(awk '{print $1}' "$tmp/anchor-$which" | median) |" \
    "$(awk '{print $2}' "$tmp/anchor-$which" | median) | $(awk '{print $3}' "$tmp/anchor-$which" | median) |"
done
