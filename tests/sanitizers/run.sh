#!/usr/bin/env bash
# run.sh BUILD_DIR: the tests of a PROFD_SANITIZE=ON build (see tests/README.md): every unit test,
# then the sanitized_smoke integration tests (root) with the ASan/UBSan profd. Any sanitizer report
# fails: UBSan is built with -fno-sanitize-recover, ASan and LeakSanitizer exit non-zero. Serial, as
# ./test.sh: a few unit tests bound their time, and ASan makes code 2-3 times slower.
set -euo pipefail
if (($# != 1)); then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
# Inherited by every test and every profd the integration tests start.
export LSAN_OPTIONS=suppressions=$here/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
cd "$build"
ctest --output-on-failure --timeout 600 -E 'integration|packaging|sanitized_smoke'
ctest --output-on-failure -R '^sanitized_smoke$'
