#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS [TARGET...]: runs each fuzz target (all without TARGET) for SECONDS on
# its committed seeds (corpus/TARGET) and the generated ones, and fails on the first crash, leak,
# UB report, timeout or out-of-memory. Inputs found stay in BUILD_DIR/tests/fuzz/work/TARGET (so a
# later run goes on from them); a crashing input is written to BUILD_DIR/tests/fuzz/artifacts/.
# Prints one line per target: executions, coverage (libFuzzer's cov: and ft:) and corpus size.
set -euo pipefail
if (($# < 2)); then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build=$(realpath "$1")
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
fuzz_dir=$build/tests/fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(cfi unwind_table symbolizer debug_file gopclntab http_head query config perf_map)
fi

# Which generated seeds each target reads (see CMakeLists.txt).
generated_for() {
  case $1 in
    unwind_table | symbolizer | debug_file) echo "$fuzz_dir/generated-corpus/elf" ;;
    gopclntab) echo "$fuzz_dir/generated-corpus/gopclntab" ;;
  esac
}

# UBSan findings abort (the code is built with -fno-sanitize-recover); print their stacks.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

failed=()
printf '%-14s %12s %8s %8s %8s  %s\n' target executions cov ft corpus result
for target in "${targets[@]}"; do
  binary=$fuzz_dir/${target}_fuzzer
  if [[ ! -x $binary ]]; then
    echo "$target: $binary missing (cmake --build $build --target fuzzers)" >&2
    failed+=("$target")
    continue
  fi
  work=$fuzz_dir/work/$target
  artifacts=$fuzz_dir/artifacts/$target
  mkdir -p "$work" "$artifacts"
  dirs=("$work" "$here/corpus/$target")
  generated=$(generated_for "$target")
  [[ -n $generated && -d $generated ]] && dirs+=("$generated")
  log=$fuzz_dir/work/$target.log
  result=ok
  # -timeout: one input taking this long is a hang; -rss_limit_mb: profd's own limits are far below.
  if ! "$binary" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${dirs[@]}" >"$log" 2>&1; then
    result=FAILED
    failed+=("$target")
  fi
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  printf '%-14s %12s %8s %8s %8s  %s\n' "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "${corpus:-?}" "$result"
  if [[ $result != ok ]]; then
    echo "---- $log (last 60 lines)" >&2
    tail -60 "$log" >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
