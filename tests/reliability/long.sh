#!/usr/bin/env bash
# tests/reliability/long.sh [BUILD_DIR] — the reliability suite at nightly
# scale (docs/reliability.md): RUNLOG_LONG=1 makes every loop take its long
# size (10^6 simulated crashes, 200,000 injected-fault workloads, 20,000
# SIGKILLs, 300,000 fuzzed ids), then every fuzz target runs for an hour
# (tests/fuzz/run.sh --long). Takes hours; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" --target runlog_reliability_tests runlog_cli
start=$(date +%s)
RUNLOG_LONG=1 "$build/tests/runlog_reliability_tests" --gtest_brief=1
echo "=== reliability suite at nightly scale: $(( $(date +%s) - start )) s"
bash tests/fuzz/run.sh --long
