#!/usr/bin/env bash
# Issue 6 benchmarks of `profd --daemon`:
#  1. load: 50 concurrent `GET /debug/pprof/profile?pid=P&seconds=10` for 50 different cpu-split
#     processes while the schedule profiles the host (every 15 s, 10 s windows): every answer
#     checked (a valid profile holding only its pid, with hot_function in it); the daemon's CPU time
#     and peak RSS over the run;
#  2. idle: the daemon with the default configuration's schedule (a 10 s host-wide CPU profile
#     every 60 s) for IDLE_SECONDS, no requests: CPU % of one core and RSS.
#  Each answer's lateness is its time beyond the 10 s window (curl's total time - 10 s: an upper
#  bound, it includes the wait to subscribe). With OLD_PROFD=path the same runs are made with that
#  binary first, side by side in one run of the script.
# usage: [OLD_PROFD=path] bench/daemon_load.sh [BUILD_DIR] [IDLE_SECONDS]
set -euo pipefail
build=${1:-build}
idle_seconds=${2:-180}
split=$build/tests/workloads/cpu-split
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

cpu_seconds() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }  # utime + stime, CLK_TCK 100
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
start_daemon() {  # $1 config file; sets daemon_pid and port
  "$profd" --daemon --config "$1" --listen 127.0.0.1:0 ${DAEMON_FLAGS:-} 2>"$tmp/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/daemon.log" | head -1 | cut -d: -f3) || true
    [[ -n "$port" ]] && return 0
    sleep 0.1
  done
  echo "daemon did not start:" >&2
  cat "$tmp/daemon.log" >&2
  exit 1
}

# 1. load
cat >"$tmp/load.yaml" <<EOF
limits:
  max_concurrent_requests: 64
schedule:
  interval: 15s
  cpu_seconds: 10s
  types: [cpu]
store:
  directory: $tmp/store
EOF
load_run() {  # $1 label
pids=()
for i in $(seq 50); do
  "$split" 120 >/dev/null &
  pids+=($!)
done
start_daemon "$tmp/load.yaml"
sleep 1
cpu_before=$(cpu_seconds "$daemon_pid")
start=$(date +%s.%N)
curls=()
for i in "${!pids[@]}"; do
  curl -s -o "$tmp/p$i.pb.gz" -w "%{http_code} %{time_total}\n" \
    "http://127.0.0.1:$port/debug/pprof/profile?pid=${pids[$i]}&seconds=10" >"$tmp/code$i" &
  curls+=($!)
done
wait "${curls[@]}" || true
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
cpu_after=$(cpu_seconds "$daemon_pid")
ok=0
for i in "${!pids[@]}"; do
  [[ "$(cut -d' ' -f1 "$tmp/code$i")" == 200 ]] || continue
  raw=$(go tool pprof -raw "$tmp/p$i.pb.gz" 2>/dev/null) || continue
  # Every sample carries its pid label: all must be the one asked for.
  others=$(grep -o 'pid:\[[0-9]*\]' <<<"$raw" | grep -v -c "pid:\[${pids[$i]}\]" || true)
  [[ "$others" == 0 ]] && grep -q hot_function <<<"$raw" && ok=$((ok + 1))
done
late=$(cat "$tmp"/code* | awk '{print $2 - 10}' | sort -n |
  awk '{v[NR] = $1} END {printf "median %.2f s, max %.2f s", v[int((NR + 1) / 2)], v[NR]}')
echo "| $1: 50 concurrent 10 s cpu profiles + schedule | answered correctly $ok/50 | all answered in ${elapsed} s | beyond the window: $late | daemon CPU $(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$elapsed" 'BEGIN {printf "%.2f s (%.1f%% of one core)", b - a, 100 * (b - a) / t}') | peak RSS $(hwm_mib "$daemon_pid") MiB |"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
[[ -n "${LOG_DIR:-}" ]] && cp "$tmp/daemon.log" "$LOG_DIR/load-${1// /-}.log"
kill "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
rm -rf "$tmp/store" "$tmp"/p*.pb.gz "$tmp"/code*
}

# 2. idle, with the default schedule
idle_run() {  # $1 label
cat >"$tmp/idle.yaml" <<EOF
store:
  directory: $tmp/idle-store
EOF
start_daemon "$tmp/idle.yaml"
sleep 2
cpu_before=$(cpu_seconds "$daemon_pid")
: >"$tmp/rss"
for _ in $(seq "$idle_seconds"); do
  sleep 1
  rss_mib "$daemon_pid" >>"$tmp/rss"
  echo >>"$tmp/rss"
done
cpu_after=$(cpu_seconds "$daemon_pid")
rss_median=$(sort -n "$tmp/rss" | awk 'NF {v[++n] = $1} END {print v[int((n + 1) / 2)]}')
echo "| $1: idle, default schedule, ${idle_seconds} s | $(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$idle_seconds" 'BEGIN {printf "%.2f s CPU = %.2f%% of one core", b - a, 100 * (b - a) / t}') | RSS median $rss_median MiB, at the end $(rss_mib "$daemon_pid") MiB (peak $(hwm_mib "$daemon_pid") MiB) | $(ls "$tmp/idle-store" | wc -l) profiles stored |"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
rm -rf "$tmp/idle-store"
}

runs=()
[[ -n "${OLD_PROFD:-}" ]] && runs+=("OLD_PROFD=$OLD_PROFD")
runs+=("$build/daemon/profd")
for run in "${runs[@]}"; do
  profd=${run#OLD_PROFD=}
  label=$([[ "$run" == OLD_PROFD=* ]] && echo "old" || echo "this build")
  [[ "${SKIP_LOAD:-}" ]] || load_run "$label"
  [[ "${SKIP_IDLE:-}" ]] || idle_run "$label"
done
