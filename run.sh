#!/usr/bin/env bash
# Builds profd and runs its main job on an embedded default: a 10 s CPU profile of a demo workload
# whose true profile is known (3/4 of its time in hot_function, 1/4 in cold_function).
set -euo pipefail
cd "$(dirname "$0")"
sudo_if_needed() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
sudo_if_needed packaging/install-deps.sh --build-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROFD_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" --target profd profd_demo_workload
build/tests/workloads/cpu-split 30 &
demo=$!
trap 'kill $demo 2>/dev/null || true' EXIT
sudo_if_needed build/daemon/profd --pid "$demo" --type cpu --seconds "${SECONDS_TO_PROFILE:-10}" -o demo-cpu.pb.gz
echo "Read it with: go tool pprof -top demo-cpu.pb.gz   (Debian package golang-go; ./test.sh installs it)"
