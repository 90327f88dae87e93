#!/usr/bin/env bash
# tests/fuzz/run.sh [--long] [BUILD_DIR] — builds the libFuzzer targets with
# clang (RUNLOG_FUZZ=ON: ASan+UBSan; BUILD_DIR may be such a build with the
# tests, as .ci/run's), replays every kept corpus input, then
# fuzzes each target for a bounded time: 30 s each by default (FUZZ_SECONDS),
# one hour each with --long. New inputs go to BUILD_DIR/fuzz-corpus/<target>/
# (the kept corpus in tests/fuzz/corpus/ is only read); a crash, leak or UB
# report stops the script with status 1 and leaves the input in
# BUILD_DIR/fuzz-crashes/ — add it to tests/fuzz/corpus/<target>/ with the fix.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
if [ "${1:-}" = "--long" ]; then seconds=3600; shift; fi
build=${1:-build-fuzz}
command -v clang++ >/dev/null || { echo "run.sh: clang++ is missing (apt-get install clang)" >&2; exit 1; }
# A build folder that is a fuzz build already (the ASan+UBSan build of .ci/run,
# which also runs the tests) is used as it is; otherwise a fuzz build of the
# libraries and the targets only.
if ! grep -q '^RUNLOG_FUZZ:BOOL=ON$' "$build/CMakeCache.txt" 2>/dev/null; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRUNLOG_WERROR=ON -DRUNLOG_FUZZ=ON \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DRUNLOG_BUILD_TESTS=OFF -DRUNLOG_BUILD_BENCH=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
targets=(line_reader replay_filter recovery_scanner json_escape id_validator)
t=$(date +%s)
cmake --build "$build" -j"${RUNLOG_JOBS:-2}" --target "${targets[@]/#/fuzz_}"
echo "runlog: fuzz targets built in $(( $(date +%s) - t )) s" >&2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$build/fuzz-crashes"
for t in "${targets[@]}"; do
  kept=tests/fuzz/corpus/$t
  work=$build/fuzz-corpus/$t
  mkdir -p "$work"
  echo "=== fuzz_$t: $(ls "$kept" | wc -l) kept inputs, then ${seconds} s"
  # Every kept input once (regressions), then fuzzing from them.
  "$build/tests/fuzz/fuzz_$t" -runs=0 "$kept" 2>&1 | tail -n 2
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-crashes/$t-" "$work" "$kept" 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)|ERROR|SUMMARY" || true
  if ls "$build/fuzz-crashes/$t-"* >/dev/null 2>&1; then
    echo "fuzz_$t found a problem: $(ls "$build/fuzz-crashes/$t-"*)" >&2
    exit 1
  fi
done
echo "=== every fuzz target ran ${seconds} s without a crash, leak or UB report"
