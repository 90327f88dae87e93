#!/usr/bin/env bash
# bench/run_suite.sh — builds runlog_bench and runs the whole benchmark suite
# (every *_bench.cpp: ingest W1..W4 against its peers, encode, replay).
#
# Usage: bash bench/run_suite.sh [--smoke] [--no-report] [BUILD_DIR]     (default build/)
#
#   full (default)  several minutes: 1,000,000 records per W1/W3 run, 250,000 per W2
#                   run, a 10 s W4 flood, a 1 GB run read back in every way; 3
#                   repetitions interleaved at random (so the machine's drift hits
#                   runlog and its peers alike); JSON to
#                   BUILD_DIR/bench-full.json, then bench/report.py writes
#                   docs/benchmarks.md and docs/img/*.svg (unless --no-report).
#   --smoke         for CI: every benchmark once at small sizes (well under 2 minutes),
#                   checking outputs, not speed; JSON to BUILD_DIR/bench-smoke.json,
#                   then bench/report.py --check fails if a benchmark is missing or
#                   reported an error.
#
# Every benchmark checks its output before it reports a figure; a wrong output is an
# error, runlog_bench exits 1, and so does this script. Sizes may be overridden with
# the RUNLOG_BENCH_* variables of bench/peers/support.h; scratch files go under
# RUNLOG_BENCH_DIR (default BUILD_DIR/bench-tmp: the file system under test).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
report=1
build=build
for arg in "$@"; do
  case $arg in
    --smoke) smoke=1 ;;
    --no-report) report=0 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run_suite.sh: unknown option $arg" >&2; exit 2 ;;
    *) build=$arg ;;
  esac
done

extra=(libspdlog-dev)
command -v node >/dev/null 2>&1 || extra+=(nodejs)
[ $smoke -eq 1 ] || [ $report -eq 0 ] || extra+=(gnuplot-nox)
bash .ci/deps "${extra[@]}"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRUNLOG_WERROR=ON >/dev/null
cmake --build "$build" -j"${RUNLOG_JOBS:-2}" --target runlog_bench runlog_cli

export RUNLOG_BENCH_DIR=${RUNLOG_BENCH_DIR:-$PWD/$build/bench-tmp}
mkdir -p "$RUNLOG_BENCH_DIR"
if [ $smoke -eq 1 ]; then
  export RUNLOG_BENCH_SMOKE=1
  export RUNLOG_BENCH_REPLAY_MB=${RUNLOG_BENCH_REPLAY_MB:-16} RUNLOG_BENCH_REPS=${RUNLOG_BENCH_REPS:-1}
  out=$build/bench-smoke.json
  flags=(--benchmark_min_time=0.01)
else
  export RUNLOG_BENCH_RECORDS=${RUNLOG_BENCH_RECORDS:-1000000}
  export RUNLOG_BENCH_W2_RECORDS=${RUNLOG_BENCH_W2_RECORDS:-250000}
  export RUNLOG_BENCH_W4_SECONDS=${RUNLOG_BENCH_W4_SECONDS:-10}
  export RUNLOG_BENCH_FSYNC_RECORDS=${RUNLOG_BENCH_FSYNC_RECORDS:-5000}
  export RUNLOG_BENCH_SYNC_SAMPLES=${RUNLOG_BENCH_SYNC_SAMPLES:-2000}
  export RUNLOG_BENCH_EXEC_MB=${RUNLOG_BENCH_EXEC_MB:-500}
  # runlog serve: 1,000 SSE clients following one live run.
  export RUNLOG_BENCH_SERVE_CLIENTS=${RUNLOG_BENCH_SERVE_CLIENTS:-1000} RUNLOG_BENCH_SERVE_RECORDS=${RUNLOG_BENCH_SERVE_RECORDS:-3000}
  export RUNLOG_BENCH_SERVE_RATE=${RUNLOG_BENCH_SERVE_RATE:-200}
  export RUNLOG_BENCH_EXEC_SEQ=${RUNLOG_BENCH_EXEC_SEQ:-20000000}
  # Reading: a 1 GB run (TARGETS.md), 3 interleaved rounds per figure.
  export RUNLOG_BENCH_REPLAY_MB=${RUNLOG_BENCH_REPLAY_MB:-1024} RUNLOG_BENCH_REPS=${RUNLOG_BENCH_REPS:-3}
  # A 1 GB conversation for conv/after_first.
  export RUNLOG_BENCH_CONV_MB=${RUNLOG_BENCH_CONV_MB:-1024}
  out=$build/bench-full.json
  flags=(--benchmark_repetitions="${RUNLOG_BENCH_REPETITIONS:-3}" --benchmark_enable_random_interleaving=true)
fi

# The machine, for the report: every figure is a ratio, but say where it was taken.
machine=$build/bench-machine.json
python3 - "$RUNLOG_BENCH_DIR" >"$machine" <<'PY'
import json, os, platform, subprocess, sys
def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return ""
d = sys.argv[1]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
print(json.dumps({
    "nproc": os.cpu_count(), "cpu": cpu, "mem_mib": mem, "kernel": platform.release(),
    "fs": sh("findmnt", "-no", "FSTYPE", "-T", d), "fs_source": sh("findmnt", "-no", "SOURCE", "-T", d),
    "fs_options": sh("findmnt", "-no", "OPTIONS", "-T", d), "bench_dir": d,
    "node": sh("node", "--version"), "spdlog": sh("dpkg-query", "-W", "-f=${Version}", "libspdlog-dev"),
    "commit": sh("git", "rev-parse", "--short", "HEAD"), "loadavg_start": open("/proc/loadavg").read().split()[:3],
}))
PY

echo "runlog: $( [ $smoke -eq 1 ] && echo smoke || echo full ) suite, scratch under $RUNLOG_BENCH_DIR, JSON to $out" >&2
status=0
"$build/bench/runlog_bench" --benchmark_out="$out" --benchmark_out_format=json "${flags[@]}" || status=$?
if [ $status -ne 0 ]; then
  echo "run_suite.sh: runlog_bench failed (exit $status): no figures" >&2
  exit 1
fi
# The Node binding (bench/node/ingest.mjs), once its package is built
# (`npm install` in bindings/node, or ctest's NodePackage copy in BUILD_DIR/node-package);
# skipped, loudly, otherwise.
node_out=$build/bench-node.json
rm -f "$node_out"
node_pkg=bindings/node
[ -f $node_pkg/build/Release/runlog.node ] || node_pkg=$build/node-package
if command -v node >/dev/null 2>&1 && [ -f $node_pkg/build/Release/runlog.node ]; then
  node_flags=(--cli "$build/runlog" --dir "$RUNLOG_BENCH_DIR" --package "$node_pkg")
  [ $smoke -eq 1 ] && node_flags+=(--smoke)
  if ! node bench/node/ingest.mjs "${node_flags[@]}" >"$node_out"; then
    echo "run_suite.sh: bench/node/ingest.mjs failed" >&2
    exit 1
  fi
else
  echo "run_suite.sh: node/* benchmarks SKIPPED: run npm install in bindings/node (or ctest -R NodePackage) first" >&2
fi
if [ $smoke -eq 1 ]; then
  python3 bench/report.py --check "$out"
elif [ $report -eq 1 ]; then
  python3 bench/report.py "$out" --machine "$machine" --out docs/benchmarks.md --img docs/img --node "$node_out"
fi
