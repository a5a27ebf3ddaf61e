#!/usr/bin/env bash
# Benchmarks 3 and 4: profd's own cost for an --all CPU profile at 99 Hz (CPU seconds and peak RSS,
# beside `perf record -a -g -F 99` for the same window), and the time to first profile
# (`profd --pid P --seconds 1`, start to file written, median of 10 with hyperfine).
# usage: bench/profd_cost.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-60}
profd=$build/daemon/profd
workload=$build/tests/workloads/cpu-split
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

# Something to sample: one busy process, and the host's ordinary background.
"$workload" $((seconds * 3 + 60)) >/dev/null &
busy=$!

cost() {  # prints "cpu_seconds peak_rss_mb" of the command; a failed run says so on stderr
  local status=0
  /usr/bin/time -f "%U %S %M" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/stderr" || status=$?
  if ((status != 0)); then
    echo "profd_cost.sh: '$*' failed (exit $status); its stderr:" >&2
    tail -20 "$tmp/stderr" >&2
  fi
  tail -1 "$tmp/time" | awk '{printf "%.2f %.1f\n", $1 + $2, $3 / 1024}'
}
read -r profd_cpu profd_rss < <(cost "$profd" --all --seconds "$seconds" -q -o "$tmp/all.pb.gz")
sampling=$(go tool pprof -comments "$tmp/all.pb.gz" 2>/dev/null | sed -n 's/profd CPU while collecting: //p')
read -r perf_cpu perf_rss < <(cost perf record -a -g -F 99 -o "$tmp/perf.data" -- sleep "$seconds")
echo "| ${seconds}s --all at 99 Hz | CPU seconds | % of one core | peak RSS |"
echo "|---|---|---|---|"
awk -v c="$profd_cpu" -v r="$profd_rss" -v s="$seconds" \
  'BEGIN {printf "| profd --all | %.2f | %.2f%% | %.1f MB |\n", c, 100 * c / s, r}'
echo "| profd --all, while sampling only (its own count, in the profile's comments) | $sampling | | |"
awk -v c="$perf_cpu" -v r="$perf_rss" -v s="$seconds" \
  'BEGIN {printf "| perf record -a -g (record only, no report) | %.2f | %.2f%% | %.1f MB |\n", c, 100 * c / s, r}'

echo
hyperfine --warmup 1 --runs 10 --export-json "$tmp/h.json" \
  "$profd --pid $busy --seconds 1 -q -o $tmp/one.pb.gz" >/dev/null 2>&1
python3 - "$tmp/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("| time to first profile (--seconds 1) | median | of which overhead beyond the 1 s window |")
print("|---|---|---|")
print("| profd --pid P --seconds 1 | %.3f s | %.3f s |" % (r["median"], r["median"] - 1.0))
PY
