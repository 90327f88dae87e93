#!/usr/bin/env bash
# Installs runlog into a scratch prefix, then builds examples/embed.cpp as an
# outside project would — once with find_package(runlog), once with
# pkg-config — and runs both: each must print a completed run of 104 records.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null

mkdir "$work/consumer"
cp "$src/examples/embed.cpp" "$work/consumer/"
cat > "$work/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.22)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(runlog REQUIRED)
add_executable(consumer embed.cpp)
target_link_libraries(consumer PRIVATE runlog::runlog)
CMAKE
cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer/build" >/dev/null

pcdir=$(dirname "$(find "$work/prefix" -name runlog.pc)")
libdir=$(dirname "$(find "$work/prefix" -name 'librunlog.so' | head -1)")
export PKG_CONFIG_PATH=$pcdir
# shellcheck disable=SC2046
c++ $(pkg-config --cflags runlog) "$work/consumer/embed.cpp" -o "$work/consumer/pc" $(pkg-config --libs runlog)

for bin in "$work/consumer/build/consumer" "$work/consumer/pc"; do
  out=$(LD_LIBRARY_PATH=$libdir "$bin" "$work/runs-$(basename "$bin")")
  echo "$bin: $out"
  case "$out" in
    *'"lastSeq":104'*'"status":"completed"'*) ;;
    *) echo "unexpected output from $bin" >&2; exit 1 ;;
  esac
done
