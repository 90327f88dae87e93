# tests/contract/tsc_env.sh — what the contract tests share, sourced by
# check_local_run.sh and check_wire.sh after they set `contract` and
# `skip_hint` (one line naming what they type-check):
#   skip REASON   prints a loud banner and exits 77 (ctest: skipped);
#   tsc           the TypeScript compiler, from npm, installed once into
#                 $RUNLOG_TSC_CACHE (default ~/.cache/runlog-tsc);
#   work          a scratch folder, removed at exit.
# It skips when the contract is not beside the checkout, or node, npm or
# TypeScript cannot be had.

skip() {
  echo "########################################################################" >&2
  echo "# contract test SKIPPED: $*" >&2
  echo "# ($skip_hint)" >&2
  echo "########################################################################" >&2
  exit 77
}

[ -f "$contract" ] || skip "the contract $contract is not beside this checkout (CI puts shared/ there)"
command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"

cache=${RUNLOG_TSC_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/runlog-tsc}
tsc="$cache/node_modules/.bin/tsc"
if [ ! -x "$tsc" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm install --no-save --no-audit --no-fund --loglevel=error typescript@5 >&2) ||
    skip "npm install typescript failed (no network?)"
fi
[ -x "$tsc" ] || skip "tsc not found after npm install"

work=$(mktemp -d "${TMPDIR:-/tmp}/runlog-contract-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
