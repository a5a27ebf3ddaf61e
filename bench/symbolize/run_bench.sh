#!/bin/sh
# Symbolization benchmark: profd vs llvm-symbolizer vs addr2line on Debian's libc (see bench.py).
# The command under test is build/daemon/profd --symbolize; set PROFD_SYMBOLIZE_CMD to change it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/bench.py" "$@"
