#!/usr/bin/env bash
# Installs every Debian 12 package profd needs to build, run and test. Idempotent; run as root.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake pkg-config clang lld llvm llvm-14-dev bpftool libbpf-dev libelf-dev libdw-dev zlib1g-dev
  libprotobuf-dev protobuf-compiler libcli11-dev libyaml-cpp-dev libdeflate0 libsystemd-dev
  libcurl4-openssl-dev
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev golang-go python3 python3.11-dev elfutils binutils libc6-dbg llvm
  linux-perf util-linux procps hyperfine heaptrack libjemalloc2
  systemd groff-base man-db dpkg-dev curl
  sqlite3 xz-utils redis-server redis-tools rustc nodejs prometheus
  clang-14 libclang-rt-14-dev  # the fuzz build: libFuzzer and clang's sanitizer runtimes
)

want=("${BUILD_PACKAGES[@]}")
[[ "${1:-}" == "--build-only" ]] || want+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
