#!/bin/sh
# Symbolization benchmark: profd vs llvm-symbolizer vs addr2line on Debian's libc (see bench.py).
# Switch the command under test with PROFD_SYMBOLIZE_CMD="build/daemon/profd --symbolize".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/bench.py" "$@"
