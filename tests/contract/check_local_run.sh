#!/bin/sh
# tests/contract/check_local_run.sh — type-checks what `runlog replay --format
# jsonl` and `runlog summary` print against the contract, with the TypeScript
# compiler: a .ts file imports the contract's types and declares
#   const entries: Array<WorkerLifecycleLogEntry | StreamChunkLogEntry> = [ ...replay output... ];
#   const summaries: Summary[] = [ ...summary output... ];   // LocalRunLogSummary & the extras
# then `tsc --noEmit --strict` must accept it (object literals get excess
# property checks, so a stray "crc" or "bytes" fails), and must reject the same
# file with one "crc" put back (so the check is not vacuous).
#
# Usage: check_local_run.sh RUNLOG_CLI CONTRACT_TS
#   RUNLOG_CLI   the runlog binary
#   CONTRACT_TS  contracts/local-run.ts (in CI: ../shared/contracts/local-run.ts from the repo root)
# TypeScript comes from npm, installed once into $RUNLOG_TSC_CACHE (default
# ~/.cache/runlog-tsc). Exit status: 0 pass, 1 fail, 77 skipped (node or npm
# missing, or npm could not install TypeScript) — ctest shows it as skipped.
set -eu

cli=${1:?usage: check_local_run.sh RUNLOG_CLI CONTRACT_TS}
contract=${2:?usage: check_local_run.sh RUNLOG_CLI CONTRACT_TS}

skip_hint="install node and npm to type-check replay output against local-run.ts"
# shellcheck source=tsc_env.sh
. "$(dirname "$0")/tsc_env.sh"

# Runs the engine wrote (W1: stdout, stderr, lifecycle events with data) ...
"$cli" demo --runs-root "$work/runs" --workload W1 --records 4000 --durability none --quiet >/dev/null
# ... and one another implementation wrote: context in the lines, no crc,
# keys in any order, unknown keys.
foreign="$work/runs/foreign-task/foreign-run"
mkdir -p "$foreign"
printf '%s\n' '{"layoutVersion":"local-run-v1","taskId":"foreign-task","stepId":"s1","stepName":"x","runId":"foreign-run","workerKind":"w","attempt":1,"repoRoot":"/r","worktreePath":"/r","createdAt":"2026-01-01T00:00:00.000Z","checkpointMode":"none"}' >"$foreign/meta.json"
printf '%s\n' '{"type":"worker_exited","seq":1,"level":"warn","channel":"worker","eventId":"e1","createdAt":"2026-01-01T00:00:00.000Z","message":"m","data":{"exitCode":2,"list":[1,"a",null,{"b":true}]},"renderedLine":"r","taskId":"foreign-task","stepId":"s1","runId":"foreign-run","extra":1}' >"$foreign/worker.jsonl"
printf '%s\n' '{ "text": "h\u00e9\n", "seq": 2, "createdAt": "2026-01-01T00:00:00.001Z", "channel": "stdout" }' >"$foreign/stdout.jsonl"
printf '%s\n' '{"seq":3,"channel":"stderr","createdAt":"2026-01-01T00:00:00.002Z","text":"e","bytes":"ZQ=="}' >"$foreign/stderr.jsonl"

cp "$contract" "$work/local-run.ts"
{
  echo 'import type { WorkerLifecycleLogEntry, StreamChunkLogEntry, LocalRunLogSummary, RunMetadata, RunStateSnapshot } from "./local-run";'
  echo 'export const entries: Array<WorkerLifecycleLogEntry | StreamChunkLogEntry> = ['
  # Every lifecycle entry, and the first stream chunks of each run.
  "$cli" replay "$work/runs" --format jsonl --channel worker | sed 's/$/,/'
  for run in "$work"/runs/*/*/; do
    "$cli" replay "$run" --format jsonl --channel stdout,stderr --limit 300 | sed 's/$/,/'
  done
  echo '];'
  echo 'type Summary = LocalRunLogSummary & {'
  echo '  firstCreatedAt: string | null; lastCreatedAt: string | null;'
  echo '  bytes: { worker: number; stdout: number; stderr: number };'
  echo '  live: boolean; abandoned: boolean; durableSeq: number | null;'
  echo '  meta: RunMetadata | null; state: RunStateSnapshot | null;'
  echo '};'
  echo 'export const summaries: Summary[] = ['
  "$cli" summary "$work/runs" | sed 's/$/,/'
  echo '];'
} >"$work/check.ts"

entries=$(grep -c '"seq":' "$work/check.ts" || true)
[ "$entries" -gt 100 ] || { echo "too few entries to check ($entries)" >&2; exit 1; }

run_tsc() { "$tsc" --noEmit --strict --target es2020 --module es2020 --moduleResolution node "$1"; }

if ! run_tsc "$work/check.ts"; then
  echo "contract check FAILED: replay/summary output does not type-check against $contract" >&2
  exit 1
fi

# Not vacuous: the same file with a crc left in one entry must be refused.
sed '0,/^{"taskId"/s//{"crc":"00000000","taskId"/' "$work/check.ts" >"$work/bad.ts"
cmp -s "$work/check.ts" "$work/bad.ts" && { echo "could not make the negative case" >&2; exit 1; }
if run_tsc "$work/bad.ts" >/dev/null 2>&1; then
  echo "contract check is vacuous: tsc accepted an entry with a crc" >&2
  exit 1
fi

echo "contract check passed: $entries entries and $(grep -c '"totalEntries"' "$work/check.ts") summaries type-check against $contract"
