#!/usr/bin/env bash
# Installs runlog into a scratch prefix and builds against it as an outside
# project would, with warnings as errors, then runs what it built — without
# LD_LIBRARY_PATH (the library is found by rpath):
#  - examples/embed.cpp with find_package(runlog) (the standard comes from the
#    target: C++20 at least) and with pkg-config (-std=c++20 given by the
#    embedder; the .pc forces no standard): each prints a completed run of 104
#    records;
#  - the README's embedding snippet (the ```cpp block under "## Embedding"),
#    with pkg-config: it prints "completed";
#  - every installed header alone, each in a file of its own, with pkg-config:
#    the public headers stand on their own (no header of the source tree needed);
#  - the same headers without -std=c++20 (C++17): a plain #error, not pages of
#    template errors.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
warn=(-Wall -Wextra -Werror)

mkdir "$work/consumer"
cp "$src/examples/embed.cpp" "$work/consumer/"
cat > "$work/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.22)
project(consumer CXX)
find_package(runlog REQUIRED)
add_executable(consumer embed.cpp)
target_compile_options(consumer PRIVATE -Wall -Wextra -Werror)
target_link_libraries(consumer PRIVATE runlog::runlog)
CMAKE
cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer/build" >/dev/null

pcdir=$(dirname "$(find "$work/prefix" -name runlog.pc)")
export PKG_CONFIG_PATH=$pcdir
if pkg-config --cflags runlog | grep -q -- '-std='; then
  echo "runlog.pc forces a language standard: $(pkg-config --cflags runlog)" >&2
  exit 1
fi
pc() {  # pc OUT SOURCE...: a C++20 program against the installed prefix, by pkg-config alone
  local out=$1
  shift
  # shellcheck disable=SC2046
  c++ -std=c++20 "${warn[@]}" $(pkg-config --cflags runlog) "$@" -o "$out" $(pkg-config --libs runlog)
}
pc "$work/consumer/pc" "$work/consumer/embed.cpp"

# The README's snippet, as a reader would paste it.
awk '/^## Embedding/ { on = 1 } on && /^```cpp/ { grab = 1; next } grab && /^```/ { exit } grab' \
  "$src/README.md" >"$work/consumer/readme.cpp"
[ -s "$work/consumer/readme.cpp" ] || { echo "no \`\`\`cpp block under ## Embedding in README.md" >&2; exit 1; }
pc "$work/consumer/readme" "$work/consumer/readme.cpp"

unset LD_LIBRARY_PATH
for bin in "$work/consumer/build/consumer" "$work/consumer/pc"; do
  out=$("$bin" "$work/runs-$(basename "$bin")")
  echo "$bin: $out"
  case "$out" in
    *'"lastSeq":104'*'"status":"completed"'*) ;;
    *) echo "unexpected output from $bin" >&2; exit 1 ;;
  esac
done
mkdir "$work/readme-run"
out=$(cd "$work/readme-run" && "$work/consumer/readme")
echo "README snippet: $out"
[ "$out" = completed ] || { echo "the README snippet's run is not completed: $out" >&2; exit 1; }

# Every installed header on its own.
n=0
while IFS= read -r h; do
  rel=${h#"$work/prefix/include/"}
  printf '#include <%s>\n' "$rel" >"$work/h$n.cpp"
  # shellcheck disable=SC2046
  c++ -std=c++20 "${warn[@]}" -Wpedantic $(pkg-config --cflags runlog) -fsyntax-only "$work/h$n.cpp" ||
    { echo "the installed header <$rel> does not compile alone" >&2; exit 1; }
  # shellcheck disable=SC2046
  if c++ -std=c++17 $(pkg-config --cflags runlog) -fsyntax-only "$work/h$n.cpp" 2>"$work/h$n.err"; then
    echo "<$rel> compiled as C++17: the C++20 check is missing" >&2; exit 1
  fi
  grep -q "need C++20" "$work/h$n.err" || { echo "<$rel> under C++17 does not say it needs C++20" >&2; exit 1; }
  n=$((n + 1))
done < <(find "$work/prefix/include" -name '*.h' | sort)
echo "$n installed headers compile alone (C++20) and say so under C++17"
[ "$n" -ge 10 ] || { echo "only $n headers installed, 10 expected" >&2; exit 1; }
