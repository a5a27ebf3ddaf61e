#!/usr/bin/env bash
# Builds profd and runs every test: unit tests, root integration tests with the real BPF programs,
# and end-to-end checks through `go tool pprof`.
set -euo pipefail
cd "$(dirname "$0")"
sudo_if_needed() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
sudo_if_needed packaging/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROFD_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$(nproc)"
cd build
sudo_if_needed ctest --output-on-failure --timeout 600
