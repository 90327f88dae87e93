// bindings/node/src/reader_binding.cpp — NativeReader: the durable entries of a
// run folder or a conversation folder (io/reader.h's LogReader), handed to
// JavaScript in batches of JSON lines.
//
// Threads. The constructor and read() run on the JavaScript thread; the
// reading itself runs on the libuv pool, one read() at a time per reader
// (index.js awaits each before the next).
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "io/reader.h"
#include "io/reader_follow.h"

namespace runlog_node {
namespace {

constexpr std::size_t kBatchEntries = 4096;
constexpr std::size_t kBatchBytes = std::size_t{1} << 20;

struct ReadState {
  bool conversation = false;
  bool follow = false;
  std::string dir;
  runlog::io::ReadFilter filter;
  bool opened = false;
  runlog::io::LogReader reader;
  runlog::io::RunWatcher watcher;
  bool watching = false;
};

// One read(): up to a batch of JSON lines, or, when following and nothing is
// there, one wait of at most wait_ms for the folder to change.
class ReadJob : public Napi::AsyncWorker {
 public:
  ReadJob(Napi::Object owner, std::shared_ptr<ReadState> state, int wait_ms)
      : Napi::AsyncWorker(owner.Env(), "runlog-read"),
        deferred_(Napi::Promise::Deferred::New(owner.Env())),
        owner_(Napi::Persistent(owner)),
        state_(std::move(state)),
        wait_ms_(wait_ms) {}
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = read_stream(); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(make_error(env, status_, state_->dir).Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("text", Napi::String::New(env, out_));
    o.Set("end", Napi::Boolean::New(env, end_));
    deferred_.Resolve(o);
  }

 private:
  runlog::Status wait_for_change() {
    ReadState& s = *state_;
    if (!s.watching) {
      RUNLOG_RETURN_IF_ERROR(s.watcher.open(s.dir));
      s.watching = true;
    }
    bool interrupted = false;
    return s.watcher.wait(wait_ms_, -1, &interrupted);
  }

  // StreamChunk/lifecycle entries of a run, StoredChunks of a conversation.
  runlog::Status read_stream() {
    ReadState& s = *state_;
    if (!s.opened && s.conversation) {
      RUNLOG_RETURN_IF_ERROR(s.reader.open(runlog::io::conversation_source(s.dir), s.filter));
      s.opened = true;
    }
    if (!s.opened) {
      std::vector<runlog::io::Source> sources;
      RUNLOG_RETURN_IF_ERROR(runlog::io::find_sources(s.dir).get(sources));
      if (sources.size() != 1 || sources[0].kind != runlog::io::SourceKind::run) {
        return runlog::Status::Invalid(s.dir + " is not a run folder");
      }
      RUNLOG_RETURN_IF_ERROR(s.reader.open(sources[0], s.filter));
      s.opened = true;
    }
    bool refreshed = false, waited = false;
    std::size_t n = 0;
    for (;;) {
      const runlog::io::Entry* e = nullptr;
      RUNLOG_RETURN_IF_ERROR(s.reader.next(&e));
      if (e != nullptr) {
        if (e->is_chunk()) runlog::io::append_stored(*e, &out_);
        else runlog::io::append_jsonl(*e, s.reader.context(), &out_);
        if (++n >= kBatchEntries || out_.size() >= kBatchBytes) return runlog::Status::OK();
        continue;
      }
      if (n > 0) return runlog::Status::OK();
      if (!s.follow || s.reader.finished()) break;
      if (!refreshed) {  // what a writer made durable since
        RUNLOG_RETURN_IF_ERROR(s.reader.refresh());
        refreshed = true;
        continue;
      }
      if (!s.reader.context().live) break;  // no writer: nothing more will come
      if (waited) return runlog::Status::OK();
      RUNLOG_RETURN_IF_ERROR(wait_for_change());
      waited = true;
      refreshed = false;
    }
    end_ = true;
    return runlog::Status::OK();
  }

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  std::shared_ptr<ReadState> state_;
  int wait_ms_;
  runlog::Status status_;
  std::string out_;
  bool end_ = false;
};

class NativeReader : public Napi::ObjectWrap<NativeReader> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeReader", {InstanceMethod<&NativeReader::read>("read")});
  }

  // new NativeReader(kind: "run" | "conversation", dir, after, channel | undefined, follow)
  explicit NativeReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeReader>(info) {
    Napi::Env env = info.Env();
    state_ = std::make_shared<ReadState>();
    if (!info[0].IsString() || !info[1].IsString()) throw_invalid(env, "NativeReader(kind, dir, after, channel, follow)");
    state_->conversation = info[0].As<Napi::String>().Utf8Value() == "conversation";
    state_->dir = info[1].As<Napi::String>().Utf8Value();
    if (!info[2].IsNumber() || info[2].As<Napi::Number>().DoubleValue() < 0) throw_invalid(env, "after must be a number >= 0", state_->dir);
    state_->filter.after = static_cast<std::uint64_t>(info[2].As<Napi::Number>().Int64Value());
    if (info[3].IsString()) {
      const std::string ch = info[3].As<Napi::String>().Utf8Value();
      if (ch == "worker") state_->filter.channels = runlog::io::channel_bit(runlog::Channel::worker);
      else if (ch == "stdout") state_->filter.channels = runlog::io::channel_bit(runlog::Channel::stdout_);
      else if (ch == "stderr") state_->filter.channels = runlog::io::channel_bit(runlog::Channel::stderr_);
      else throw_invalid(env, "channel must be \"worker\", \"stdout\" or \"stderr\", not \"" + ch + "\"", state_->dir);
    } else if (!info[3].IsUndefined() && !info[3].IsNull()) {
      throw_invalid(env, "channel must be a string", state_->dir);
    }
    state_->follow = info[4].ToBoolean().Value();
  }

 private:
  // read(waitMs) -> Promise<{ text: string, end: boolean }>
  Napi::Value read(const Napi::CallbackInfo& info) {
    const int wait_ms = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 100;
    auto* job = new ReadJob(Value(), state_, wait_ms);
    Napi::Promise p = job->promise();
    job->Queue();
    return p;
  }

  std::shared_ptr<ReadState> state_;
};

}  // namespace

Napi::Object init_reader(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeReader", NativeReader::define(env));
  return exports;
}

}  // namespace runlog_node
