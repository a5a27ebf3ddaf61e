#!/usr/bin/env bash
# Issue 17: the idle daemon (the default schedule: a 10 s host-wide CPU profile every 60 s, one file
# per process) of this build and of OLD_PROFD side by side, both running at once for SECONDS, so
# that both see the same host: each one's CPU (% of one core), RSS median and peak, profiles stored.
# usage: OLD_PROFD=path bench/daemon_idle_pair.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-185}
: "${OLD_PROFD:?set OLD_PROFD to the profd binary to compare with}"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

declare -A pid
for run in old new; do
  profd=$([[ $run == old ]] && echo "$OLD_PROFD" || echo "$build/daemon/profd")
  mkdir -p "$tmp/$run-store"
  printf 'socket_path: %s\nstore:\n  directory: %s\n' "$tmp/$run.sock" "$tmp/$run-store" \
    >"$tmp/$run.yaml"
  "$profd" --daemon --config "$tmp/$run.yaml" --listen 127.0.0.1:0 2>"$tmp/$run.log" &
  pid[$run]=$!
done
for _ in $(seq "$seconds"); do
  sleep 1
  for run in old new; do
    if ! kill -0 "${pid[$run]}" 2>/dev/null; then
      echo "the $run daemon died; its log ends:" >&2
      tail -20 "$tmp/$run.log" >&2
      exit 1
    fi
    awk '/^VmRSS/ {printf "%.1f\n", $2 / 1024}' "/proc/${pid[$run]}/status" >>"$tmp/$run.rss"
  done
done
echo "| daemon | CPU over ${seconds} s | RSS median | peak RSS | profiles stored |"
echo "|---|---|---|---|---|"
for run in old new; do
  p=${pid[$run]}
  awk -v t="$seconds" '{printf "| %s | %.2f s = %.2f%% of one core ", "'$run'", ($14 + $15) / 100, ($14 + $15) / t}' "/proc/$p/stat"
  printf '| %s MiB | %s MiB | %s |\n' \
    "$(sort -n "$tmp/$run.rss" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')" \
    "$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$p/status")" \
    "$(ls "$tmp/$run-store" | wc -l)"
done
