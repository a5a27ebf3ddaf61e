#!/bin/bash
# Issue 11, defect 6: the user-mode time a uprobe hit adds to the probed program, by its working set.
# usage: bench/probe_penalty/run.sh [BUILD_DIR] [ITERATIONS] [ROUNDS]
# For 0, 4 and 16 random pages read between allocations: the loop's user and system seconds
# unprobed and with profd's allocator probes always attached (--max-overhead 100), medians of
# ROUNDS interleaved rounds, and the user seconds added per probe hit (two hits per iteration).
set -euo pipefail
BUILD=${1:-build}
ITERATIONS=${2:-100000}
ROUNDS=${3:-3}
PROFD=$BUILD/daemon/profd
WORK=$(mktemp -d /tmp/probe-penalty.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O2 -o "$WORK/probe_penalty" "$(dirname "$0")/probe_penalty.c"

# Writes "USER SYS" of one run to $WORK/out; probed: profd attached before the loop starts.
run() {
  local pages=$1 probed=$2
  mkfifo "$WORK/in"
  "$WORK/probe_penalty" "$ITERATIONS" "$pages" < "$WORK/in" > "$WORK/out" &
  local pid=$!
  exec 3> "$WORK/in"
  local profd_pid=
  if [ "$probed" = 1 ]; then
    "$PROFD" --pid "$pid" --type allocs --seconds 3600 --max-overhead 100 -q --top 0 \
      -o "$WORK/p.pb.gz" 3>&- >/dev/null 2>&1 &
    profd_pid=$!
    sleep 3  # loaded and attached
  fi
  echo go >&3
  exec 3>&-
  wait "$pid"
  if [ -n "$profd_pid" ]; then kill -INT "$profd_pid"; wait "$profd_pid" || true; fi
  rm -f "$WORK/in"
}

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf '| pages read per iteration | user s unprobed | user s probed | sys s probed | user µs added per hit |\n'
printf '|---|---|---|---|---|\n'
for pages in 0 4 16; do
  : > "$WORK/u0"; : > "$WORK/u1"; : > "$WORK/s1"
  for _ in $(seq "$ROUNDS"); do
    run "$pages" 0; read -r u s < "$WORK/out"; echo "$u" >> "$WORK/u0"
    run "$pages" 1; read -r u s < "$WORK/out"; echo "$u" >> "$WORK/u1"; echo "$s" >> "$WORK/s1"
  done
  u0=$(median < "$WORK/u0"); u1=$(median < "$WORK/u1"); s1=$(median < "$WORK/s1")
  awk -v p="$pages" -v u0="$u0" -v u1="$u1" -v s1="$s1" -v n="$ITERATIONS" \
    'BEGIN {printf "| %d | %.3f | %.3f | %.3f | %.2f |\n", p, u0, u1, s1, (u1 - u0) / (2 * n) * 1e6}'
done
