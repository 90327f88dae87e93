#!/bin/sh
# tests/contract/check_wire.sh — type-checks what `runlog replay` prints for a
# conversation against contracts/wire.ts with the TypeScript compiler: a .ts
# file imports the contract's types and declares
#   const stored: StoredChunk[] = [ ...replay --format jsonl output... ];
#   const messages: ChatMessage[] = [ ...replay --format messages output... ];
#   const events: AgentEvent[] = [ ...chat append --turn T --events FILE output... ];
# then `tsc --noEmit --strict` must accept it (object literals get excess
# property checks, so a stray "crc" fails), and must reject the same file with
# one "crc" put back and with one isError made a string (so the check is not
# vacuous).
#
# Usage: check_wire.sh RUNLOG_CLI CONTRACT_TS
#   RUNLOG_CLI   the runlog binary
#   CONTRACT_TS  contracts/wire.ts (in CI: ../shared/contracts/wire.ts from the repo root)
# TypeScript comes from npm as in check_local_run.sh (the same cache).
# Exit status: 0 pass, 1 fail, 77 skipped (node, npm or the contract missing).
set -eu

cli=${1:?usage: check_wire.sh RUNLOG_CLI CONTRACT_TS}
contract=${2:?usage: check_wire.sh RUNLOG_CLI CONTRACT_TS}

skip_hint="install node and npm to type-check conversation output against wire.ts"
# shellcheck source=tsc_env.sh
. "$(dirname "$0")/tsc_env.sh"

# Every chunk variant, unicode, nested input, a tool-call left open (reconcile answers it).
cat >"$work/in.jsonl" <<'JSONL'
{"role":"system","chunk":{"type":"system","text":"You are terse."}}
{"role":"user","chunk":{"type":"text","text":"h\u00e9llo \u2713 \ud83d\ude00 \"quoted\"\n"}}
{"role":"assistant","chunk":{"type":"thinking","text":"plan"}}
{"role":"assistant","chunk":{"type":"tool-call","toolCallId":"c1","toolName":"shell","input":{"cmd":["ls","-la"],"env":{"n":[1,2.5,null,true,{"deep":{}}]}}}}
{"role":"tool","chunk":{"type":"tool-result","toolCallId":"c1","toolName":"shell","content":"total 0","isError":false}}
{"role":"assistant","chunk":{"type":"error","message":"rate limited","code":"429"}}
{"role":"assistant","chunk":{"type":"error","message":"no code"}}
{"role":"assistant","chunk":{"type":"tool-call","toolCallId":"c2","toolName":"sleep","input":null}}
{"role":"assistant","chunk":{"type":"text","text":"done"}}
JSONL
"$cli" chat append --conversations-root "$work/convs" --id wire <"$work/in.jsonl" >/dev/null
# The same chunks once more as a turn, with its AgentEvents (c2 was answered above:
# reconcile ran when the conversation was reopened, so fresh tool ids keep them apart).
sed 's/"c1"/"d1"/g; s/"c2"/"d2"/g' "$work/in.jsonl" >"$work/turn.jsonl"
"$cli" chat append --conversations-root "$work/convs" --id wire --turn turn-1 --events "$work/events.jsonl" \
  <"$work/turn.jsonl" >/dev/null
"$cli" chat reconcile --conversations-root "$work/convs" --id wire >/dev/null

cp "$contract" "$work/wire.ts"
{
  echo 'import type { StoredChunk, ChatMessage, AgentEvent } from "./wire";'
  echo 'export const stored: StoredChunk[] = ['
  "$cli" replay "$work/convs/wire" --format jsonl | sed 's/$/,/'
  echo '];'
  echo 'export const messages: ChatMessage[] = ['
  "$cli" replay "$work/convs/wire" --format messages | sed 's/$/,/'
  echo '];'
  echo 'export const events: AgentEvent[] = ['
  sed 's/$/,/' "$work/events.jsonl"
  echo '];'
} >"$work/check.ts"

n=$(grep -c '"seq":' "$work/check.ts" || true)
[ "$n" -eq 20 ] || { echo "expected 20 stored chunks (2 x 9 appended + 2 reconciled), found $n" >&2; cat "$work/check.ts" >&2; exit 1; }
ne=$(grep -c '"turnId":' "$work/check.ts" || true)
[ "$ne" -eq 11 ] || { echo "expected 11 events (turn-start, 8 chunk events, done, turn-sealed), found $ne" >&2; exit 1; }

run_tsc() { "$tsc" --noEmit --strict --target es2020 --module es2020 --moduleResolution node "$1"; }

if ! run_tsc "$work/check.ts"; then
  echo "contract check FAILED: conversation replay output does not type-check against $contract" >&2
  exit 1
fi

# Not vacuous: a crc left in, or an isError that is a string, must be refused.
sed '0,/^{"seq":1,/s//{"crc":"00000000","seq":1,/' "$work/check.ts" >"$work/bad1.ts"
sed '0,/"isError":false/s//"isError":"false"/' "$work/check.ts" >"$work/bad2.ts"
sed '0,/"type":"text-delta"/s//"type":"text-delta","seq":1/' "$work/check.ts" >"$work/bad3.ts"
for bad in "$work/bad1.ts" "$work/bad2.ts" "$work/bad3.ts"; do
  cmp -s "$work/check.ts" "$bad" && { echo "could not make the negative case $bad" >&2; exit 1; }
  if run_tsc "$bad" >/dev/null 2>&1; then
    echo "contract check is vacuous: tsc accepted $(basename "$bad")" >&2
    exit 1
  fi
done

echo "contract check passed: $n stored chunks, $(grep -c '"chunks":' "$work/check.ts") messages and $ne agent events type-check against $contract"
