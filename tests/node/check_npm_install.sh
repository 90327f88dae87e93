#!/bin/sh
# tests/node/check_npm_install.sh — the README's "Embedding from Node", as a new
# user follows it:
#   1. a fresh copy of the checkout (the tracked and untracked-but-not-ignored
#      files: no build folders, no node_modules) in WORK_DIR/clone;
#   2. in an empty folder, `npm install WORK_DIR/clone/bindings/node`: npm links
#      the folder and runs its install script there, which fetches node-addon-api
#      and cmake-js from npm and builds the addon (nothing downloaded at build
#      time: the system's Node headers);
#   3. the README's js snippet, taken from README.md, run with node as app.mjs,
#      without LD_LIBRARY_PATH;
#   4. the run it wrote, checked with the CLI: `runlog verify`, `runlog replay`
#      byte for byte against the worker's own output, `runlog summary` says
#      completed;
#   5. then tests/node/check_node.sh on that installed package: `npm test` and
#      the tsc --strict checks of the public surface.
#
# Usage: check_npm_install.sh RUNLOG_CLI SOURCE_DIR WORK_DIR
#   WORK_DIR  emptied first. The copy keeps the same path from run to run, so
#             when ccache is installed the compiler's work is reused (the build
#             itself is configured and run from scratch each time).
# Exit status: 0 pass, 1 fail, 77 skipped (node, npm or seq missing, or npm
# could not reach the registry) — ctest shows it as skipped.
set -eu

cli=${1:?usage: check_npm_install.sh RUNLOG_CLI SOURCE_DIR WORK_DIR}
src=${2:?usage: check_npm_install.sh RUNLOG_CLI SOURCE_DIR WORK_DIR}
work=${3:?usage: check_npm_install.sh RUNLOG_CLI SOURCE_DIR WORK_DIR}

skip() { echo "SKIPPED: $1" >&2; exit 77; }
fail() { echo "FAILED: $1" >&2; exit 1; }
for tool in node npm seq; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool not found: install node and npm to check the Node package's install"
done

rm -rf "$work"
mkdir -p "$work/clone" "$work/app"
clone=$work/clone
app=$work/app

# 1. A fresh clone's files.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    (cd "$src" && tar --null -T - -cf -) | tar -C "$clone" -xf -
else
  (cd "$src" && tar --exclude='./build*' --exclude=node_modules --exclude=./.git -cf - .) | tar -C "$clone" -xf -
fi
[ ! -e "$clone/bindings/node/node_modules" ] && [ ! -e "$clone/bindings/node/build" ] ||
  fail "the copy is not fresh: it holds bindings/node/node_modules or build"

# 2. npm install <folder>, in an empty folder.
if command -v ccache >/dev/null 2>&1; then
  CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CMAKE_CXX_COMPILER_LAUNCHER
fi
cd "$app"
if ! npm install --no-audit --no-fund --foreground-scripts "$clone/bindings/node" >"$work/npm-install.log" 2>&1; then
  cat "$work/npm-install.log" >&2
  if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|ECONNRESET' "$work/npm-install.log"; then
    skip "npm could not reach the registry for node-addon-api and cmake-js (no network?)"
  fi
  fail "npm install <bindings/node> in an empty folder"
fi
[ -L node_modules/runlog ] || fail "npm did not link node_modules/runlog"
addon=$clone/bindings/node/build/Release/runlog.node
[ -f "$addon" ] || fail "the install script did not build $addon"
if ldd "$addon" | grep -q 'not found'; then
  ldd "$addon" >&2
  fail "the addon needs a library the loader cannot find"
fi

# 3. The README's snippet, as written there.
awk '/^## Embedding from Node/ { in_section = 1; next }
     /^## / { in_section = 0 }
     in_section && /^```js/ { in_block = 1; next }
     in_block && /^```/ { exit }
     in_block { print }' "$src/README.md" >app.mjs
grep -q 'openEngine' app.mjs || fail "no js snippet found under the README's \"Embedding from Node\""
if ! out=$(env -u LD_LIBRARY_PATH node app.mjs 2>&1); then
  echo "$out" >&2
  fail "node app.mjs (the README snippet)"
fi
echo "$out"
echo "$out" | tail -1 | grep -Eq '^[0-9]+ step_completed$' ||
  fail "the snippet's last line is not \"<seq> step_completed\""

# 4. The run it wrote, through the CLI.
run_dir=runs/t1/r1
"$cli" verify runs >"$work/verify.out" 2>&1 || { cat "$work/verify.out" >&2; fail "runlog verify runs"; }
"$cli" replay "$run_dir" --format raw --channel stdout >"$work/replayed" || fail "runlog replay $run_dir"
seq 1 3000 >"$work/expected"
cmp "$work/expected" "$work/replayed" || fail "the replayed stdout differs from the worker's output"
summary=$("$cli" summary "$run_dir") || fail "runlog summary $run_dir"
echo "$summary" | grep -q 'completed' || { echo "$summary" >&2; fail "the run is not completed"; }
echo "npm install <bindings/node> in an empty folder: built, the README snippet ran, its run verified, replayed byte for byte, completed"

# 5. The package's own suite and type checks (tests/node/check_node.sh) on the
#    package just installed: one build of the addon for both.
RUNLOG_NODE_PREBUILT=1 sh "$src/tests/node/check_node.sh" "$cli" "$src" "$clone/bindings/node"
