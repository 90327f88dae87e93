#!/usr/bin/env bash
# tests/browser/check_viewer.sh — the web viewer of `runlog serve` in headless
# Chromium (Debian's `chromium`), driven by playwright-core from npm, installed
# once into $RUNLOG_PLAYWRIGHT_CACHE (default ~/.cache/runlog-playwright);
# playwright never downloads a browser. Exit 77 (ctest: skipped, loudly) when
# chromium, node or npm is missing or playwright-core cannot be had.
# Usage: check_viewer.sh RUNLOG_BINARY [SCREENSHOT_DIR]
set -euo pipefail
runlog=$1
shots=${2:-}
here=$(cd "$(dirname "$0")" && pwd)

skip() {
  echo "########################################################################" >&2
  echo "# browser test SKIPPED: $*" >&2
  echo "# (the runlog serve web viewer in headless chromium)" >&2
  echo "########################################################################" >&2
  exit 77
}

chromium=${RUNLOG_CHROMIUM:-$(command -v chromium || true)}
[ -n "$chromium" ] && [ -x "$chromium" ] || skip "chromium is not installed (apt-get install chromium)"
command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"

cache=${RUNLOG_PLAYWRIGHT_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/runlog-playwright}
if [ ! -f "$cache/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$cache"
  (cd "$cache" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund --loglevel=error playwright-core@1 >&2) ||
    skip "npm install playwright-core failed (no network?)"
fi
[ -f "$cache/node_modules/playwright-core/package.json" ] || skip "playwright-core not found after npm install"

work=$(mktemp -d "${TMPDIR:-/tmp}/runlog-browser-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
NODE_PATH="$cache/node_modules" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  node "$here/viewer_test.mjs" "$runlog" "$chromium" "$work" "$shots" "$cache/node_modules/playwright-core/index.js"
