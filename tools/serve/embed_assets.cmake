# Writes OUT, a C++ header holding every file of SRC_DIR as a byte array
# (kServeAssets: name, content type, bytes), so that `runlog serve` carries
# its web viewer inside the binary. Run at build time: cmake -DOUT=.. -DSRC_DIR=.. -P embed_assets.cmake
file(GLOB files RELATIVE ${SRC_DIR} ${SRC_DIR}/*)
list(SORT files)
set(arrays "")
set(table "")
set(i 0)
foreach(name ${files})
  file(READ ${SRC_DIR}/${name} hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR size "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  if(name MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(name MATCHES "\\.js$")
    set(type "text/javascript; charset=utf-8")
  elseif(name MATCHES "\\.css$")
    set(type "text/css; charset=utf-8")
  elseif(name MATCHES "\\.svg$")
    set(type "image/svg+xml")
  else()
    set(type "application/octet-stream")
  endif()
  string(APPEND arrays "static const unsigned char kServeAsset${i}[] = {${bytes}0x00};\n")
  string(APPEND table "  {\"${name}\", \"${type}\", kServeAsset${i}, ${size}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from tools/serve/web/ by tools/serve/embed_assets.cmake; do not edit.
#pragma once
#include <cstddef>
struct ServeAsset {
  const char* name;
  const char* type;
  const unsigned char* data;
  std::size_t size;
};
${arrays}
static const ServeAsset kServeAssets[] = {
${table}};
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
