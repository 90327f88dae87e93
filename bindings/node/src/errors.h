// bindings/node/src/errors.h — runlog's Status as a JavaScript Error, and the
// small helpers the bindings share.
//
// Threads: everything here runs on the JavaScript thread (it touches napi_env).
#pragma once

#include <napi.h>

#include <string>
#include <string_view>

#include "runlog/status.h"

namespace runlog_node {

/// An Error whose message is "<code>: <message>", with `code` (the errc name:
/// "invalid_argument", "io_error", ...), `errno` (the OS error, 0 when none)
/// and `path` (the file or folder the call was about).
inline Napi::Error make_error(Napi::Env env, const runlog::Status& st, std::string_view path) {
  Napi::Error err = Napi::Error::New(env, st.to_string());
  err.Set("code", Napi::String::New(env, runlog::errc_name(st.code())));
  err.Set("errno", Napi::Number::New(env, st.sys_errno()));
  err.Set("path", Napi::String::New(env, std::string(path)));
  return err;
}

/// Throws invalid_argument: for input JavaScript handed over wrongly shaped.
[[noreturn]] inline void throw_invalid(Napi::Env env, std::string message, std::string_view path = {}) {
  throw make_error(env, runlog::Status::Invalid(std::move(message)), path);
}

/// A property that must be a string (or absent when `optional`).
inline bool get_string(const Napi::Object& o, const char* key, std::string* out, bool optional) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && optional) return false;
  if (!v.IsString()) throw_invalid(o.Env(), std::string(key) + " must be a string");
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

Napi::Object init_engine(Napi::Env env, Napi::Object exports);
Napi::Object init_reader(Napi::Env env, Napi::Object exports);

}  // namespace runlog_node
