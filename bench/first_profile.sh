#!/usr/bin/env bash
# Time to first profile (issue 17): `profd --pid P --seconds 1 -q -o F`, start to file written,
# median of RUNS runs (hyperfine), beside the anchor `perf record -F 99 -g -p P -- sleep 1 && perf
# report` and, with OLD_PROFD=path, another profd binary in the same run. Then the target's CPU
# samples per profile (median of SAMPLE_RUNS): with LOAD=N busy loops on the host, whether profd's
# start-up took CPU from the target.
# usage: [OLD_PROFD=path] [RUNS=10] [SAMPLE_RUNS=5] [LOAD=0] bench/first_profile.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
runs=${RUNS:-10}
sample_runs=${SAMPLE_RUNS:-5}
load=${LOAD:-0}
profd=$build/daemon/profd
workload=$build/tests/workloads/cpu-split
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$workload" 3600 >/dev/null &
target=$!
for _ in $(seq "$load"); do (while :; do :; done) & done
sleep 0.5

commands=("$profd --pid $target --seconds 1 -q -o $tmp/new.pb.gz")
names=("profd (this build)")
if [[ -n "${OLD_PROFD:-}" ]]; then
  commands+=("$OLD_PROFD --pid $target --seconds 1 -q -o $tmp/old.pb.gz")
  names+=("profd (OLD_PROFD)")
fi
commands+=("perf record -q -F 99 -g -p $target -o $tmp/perf.data -- sleep 1 && perf report -i $tmp/perf.data --stdio >/dev/null 2>&1")
names+=("perf record + report")
hyperfine -N --warmup 1 --runs "$runs" --export-json "$tmp/h.json" "${commands[@]}" >/dev/null 2>&1 ||
  hyperfine --warmup 1 --runs "$runs" --export-json "$tmp/h.json" "${commands[@]}" >/dev/null 2>&1

# The target's samples in a profile ("Total samples = 990ms" at 100 Hz is 99 samples).
samples() {  # $1 profd binary
  local all=()
  for _ in $(seq "$sample_runs"); do
    "$1" --pid "$target" --seconds 1 -q -o "$tmp/s.pb.gz" >/dev/null 2>&1 || continue
    all+=("$(go tool pprof -raw "$tmp/s.pb.gz" 2>/dev/null |
      awk '/^Samples:/ {on = 1; next} /^Locations/ {on = 0} on && /^ *[0-9]+ / {n += $1} END {print n + 0}')")
  done
  printf '%s\n' "${all[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
new_samples=$(samples "$profd")
old_samples=""
[[ -n "${OLD_PROFD:-}" ]] && old_samples=$(samples "$OLD_PROFD")

python3 - "$tmp/h.json" "$load" "$new_samples" "$old_samples" "${names[@]}" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
load, new_samples, old_samples, names = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
anchor = results[-1]["median"]
print("| command (host load: %s busy loops) | median | min-max | beyond the 1 s window | vs perf |" % load)
print("|---|---|---|---|---|")
for name, r in zip(names, results):
    print("| %s | %.3f s | %.3f-%.3f s | %.3f s | %.2fx |" % (
        name, r["median"], r["min"], r["max"], r["median"] - 1.0, r["median"] / anchor))
print()
print("target's samples per 1 s profile (median of runs): this build %s%s" % (
    new_samples, ", OLD_PROFD %s" % old_samples if old_samples else ""))
PY
