#!/bin/sh
# tests/node/check_node.sh — the Node package (bindings/node) as a user gets it:
#   1. a copy of the package in PKG_DIR is installed with `npm install`, which
#      builds the addon with cmake-js against this checkout and the system's
#      Node headers (nothing is downloaded at build time; npm fetches
#      node-addon-api and cmake-js);
#   2. `npm test` runs its node:test suite on the real engine and real files,
#      with RUNLOG_CLI set for `runlog verify` and `runlog replay`;
#   3. test/types/surface.ts, written against the public surface, must
#      type-check with `tsc --strict`, and each of test/types/bad*.ts must fail
#      on the line marked EXPECT-ERROR.
#
# Usage: check_node.sh RUNLOG_CLI SOURCE_DIR PKG_DIR
#   PKG_DIR  where the package is copied and built (kept between runs, so a
#            rebuild is incremental)
# Exit status: 0 pass, 1 fail, 77 skipped (node or npm missing, or npm could
# not fetch the package's dependencies or TypeScript) — ctest shows it as skipped.
set -eu

cli=${1:?usage: check_node.sh RUNLOG_CLI SOURCE_DIR PKG_DIR}
src=${2:?usage: check_node.sh RUNLOG_CLI SOURCE_DIR PKG_DIR}
pkg=${3:?usage: check_node.sh RUNLOG_CLI SOURCE_DIR PKG_DIR}

contract="$src/bindings/node/contracts/local-run.ts"
skip_hint="install node and npm to build and test the Node package"
# shellcheck source=../contract/tsc_env.sh
. "$src/tests/contract/tsc_env.sh"
skip_hint="install node and npm to build and test the Node package"

# 1. The package, as a user would install it. With RUNLOG_NODE_PREBUILT=1,
#    PKG_DIR is a package folder that is already installed and built
#    (tests/node/check_npm_install.sh hands over the one it installed, so the
#    addon is built once per test run).
if [ "${RUNLOG_NODE_PREBUILT:-0}" = 1 ]; then
  [ -f "$pkg/build/Release/runlog.node" ] || { echo "RUNLOG_NODE_PREBUILT: no addon in $pkg" >&2; exit 1; }
  cd "$pkg"
else
  mkdir -p "$pkg"
  (cd "$src/bindings/node" && tar --exclude=./node_modules --exclude=./build -cf - .) | (cd "$pkg" && tar -xf -)
  cd "$pkg"
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2 ||
    skip "npm could not fetch node-addon-api and cmake-js (no network?)"
  if ! RUNLOG_SOURCE_DIR="$src" npm run install >&2; then
    echo "node package FAILED to build" >&2
    exit 1
  fi
fi

# 2. Its tests.
if ! RUNLOG_CLI="$cli" npm test >&2; then
  echo "node package tests FAILED" >&2
  exit 1
fi

# 3. The public surface against the contracts, with tsc --strict.
consumer="$work/consumer"
mkdir -p "$consumer/node_modules"
ln -s "$pkg" "$consumer/node_modules/runlog"
cp "$pkg"/test/types/*.ts "$consumer/"
run_tsc() { "$tsc" --noEmit --strict --target es2022 --module es2022 --moduleResolution node "$1" 2>&1; }
if ! out=$(run_tsc "$consumer/surface.ts"); then
  echo "$out" >&2
  echo "type check FAILED: surface.ts does not type-check against index.d.ts" >&2
  exit 1
fi
for bad in "$consumer"/bad*.ts; do
  line=$(grep -n 'EXPECT-ERROR' "$bad" | cut -d: -f1)
  if out=$(run_tsc "$bad"); then
    echo "type check is vacuous: tsc accepted $(basename "$bad")" >&2
    exit 1
  fi
  if ! echo "$out" | grep -q "$(basename "$bad")($line,"; then
    echo "$out" >&2
    echo "type check: $(basename "$bad") failed, but not on line $line" >&2
    exit 1
  fi
done
echo "node package passed: built, npm test, surface.ts type-checks, $(ls "$consumer"/bad*.ts | wc -l) wrongly typed calls refused"
