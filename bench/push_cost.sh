#!/usr/bin/env bash
# Issue 15 benchmark: what pushing costs the daemon. 100 processes (cpu-split at nice 19, so the
# host is busy and every process has samples), the default schedule (a 10 s host-wide CPU profile
# every 60 s, one profile per process), ROUNDS rounds; the daemon without export, then with an
# exporter of KIND (pyroscope, parca or otlp) to a receiver on 127.0.0.1 that answers 200 at once.
# Prints the daemon's CPU time and its share of one core over the run, its peak RSS (VmHWM), and
# with push the profiles pushed and their latency (profd_export_push_seconds: from the request's
# start to the answer, the spool's read included).
# usage: bench/push_cost.sh [BUILD_DIR] [ROUNDS] [KIND]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
kind=${3:-pyroscope}
profd=$build/daemon/profd
split=$build/tests/workloads/cpu-split
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

cpu_seconds() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }  # utime + stime, CLK_TCK 100
hwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {s += $2} END {print s + 0}'; }

# A receiver that reads each push and answers 200 (what a healthy backend does).
cat >"$tmp/receiver.py" <<'PY'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PY

pids=()
for _ in $(seq 100); do
  nice -n 19 "$split" 100000 >/dev/null &
  pids+=($!)
done

run() {  # $1 label, $2 config file
  "$profd" --daemon --config "$2" --listen 127.0.0.1:0 2>"$tmp/daemon.log" &
  daemon_pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/daemon.log" | head -1 | cut -d: -f3) || true
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  local before
  before=$(cpu_seconds "$daemon_pid")
  local seconds=$((rounds * 60 + 15))
  sleep "$seconds"
  local cpu
  cpu=$(awk -v a="$before" -v b="$(cpu_seconds "$daemon_pid")" 'BEGIN {print b - a}')
  local line
  line=$(printf '%-28s daemon CPU %6.2f s (%.2f%% of a core over %d s), peak RSS %s MiB' "$1" \
    "$cpu" "$(awk -v c="$cpu" -v s="$seconds" 'BEGIN {print 100 * c / s}')" "$seconds" \
    "$(hwm_mib "$daemon_pid")")
  local pushed
  pushed=$(metric profd_export_pushed_total)
  if [[ "$pushed" != 0 ]]; then
    local sum count
    sum=$(metric profd_export_push_seconds_sum)
    count=$(metric profd_export_push_seconds_count)
    line+=$(printf ', %s pushed, mean push latency %.1f ms' "$pushed" \
      "$(awk -v s="$sum" -v c="$count" 'BEGIN {print c ? 1000 * s / c : 0}')")
  fi
  echo "$line"
  kill "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null || true
}

base_config() {
  cat <<YAML
socket_path: $tmp/profd-$1.sock
store:
  directory: $tmp/store-$1
YAML
}
base_config plain >"$tmp/plain.yaml"
python3 "$tmp/receiver.py" >"$tmp/receiver.port" &
for _ in $(seq 50); do [[ -s "$tmp/receiver.port" ]] && break; sleep 0.1; done
{
  base_config push
  cat <<YAML
export:
  - kind: $kind
    url: http://127.0.0.1:$(cat "$tmp/receiver.port")
spool:
  directory: $tmp/spool
YAML
} >"$tmp/push.yaml"
mkdir -m 0700 "$tmp/spool"
echo "100 processes, default schedule (10 s cpu every 60 s), $rounds rounds each; push kind $kind"
run "without export" "$tmp/plain.yaml"
run "with export ($kind)" "$tmp/push.yaml"
