// bindings/node/src/addon.cpp — the module's entry point: NativeEngine and
// NativeReader, which index.js wraps into the public API.
#include <napi.h>

#include "errors.h"

namespace {
Napi::Object init(Napi::Env env, Napi::Object exports) {
  runlog_node::init_engine(env, exports);
  runlog_node::init_reader(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(runlog, init)
