// bindings/node/src/engine_binding.cpp — NativeEngine: one runlog::Engine, its
// runs and conversations, and the thread that hands acknowledgements back.
//
// Pushing. A push runs on the JavaScript thread through the engine's one
// Producer: the bytes are copied once into the engine and the seq comes back
// at once. The engine is always opened with OverBudget::would_block, so a push
// never waits; index.js turns would_block into a rejection or a queue, as the
// options say.
//
// Acknowledgements. Each stream remembers the Ticket of its latest push and
// whether it is waiting for the ack thread ("dirty"). The ack thread takes
// every dirty stream at once, waits for those tickets (a ticket is durable
// when the stream's watermark reaches it, so every earlier push of that
// stream is durable too) and hands the whole batch over with one call of the
// thread-safe function: one JavaScript callback per wave, never one per record.
//
// Threads. Every method of NativeEngine runs on the JavaScript thread, except
// the Execute() of the async workers (the libuv pool: open, open_run,
// open_conversation, close, flush, end_turn, a subscription's next) and
// ack_loop() (the ack thread). Stream::pending and dirty, dirty_ and stop_ are
// protected by mu_; the stream table only grows, on the JavaScript thread,
// under mu_.
#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "runlog/engine.h"

namespace runlog_node {
namespace {

struct Stream {
  bool is_conversation = false;
  runlog::Run run;
  runlog::Conversation conv;
  std::string path;  // for errors: the run folder or the conversation folder
  // Protected by NativeEngine::mu_.
  runlog::Ticket pending;
  bool dirty = false;

  std::uint64_t durable_seq() const { return is_conversation ? conv.durable_seq() : run.durable_seq(); }
};

struct AckError {
  std::uint32_t stream = 0;
  std::uint64_t durable = 0;  // every seq up to here is durable all the same
  runlog::Status status;
  std::string path;
};
struct AckBatch {
  std::vector<double> acks;  // stream id, acknowledged seq, ...
  std::vector<AckError> errors;
};

void deliver_acks(Napi::Env env, Napi::Function callback, std::nullptr_t*, AckBatch* batch);
using AckFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, AckBatch, deliver_acks>;

// Runs `execute` on the libuv pool, then settles a promise on the JavaScript
// thread: with on_ok's value, or with the error `execute` returned. Keeps the
// engine object alive meanwhile.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Object owner, std::string path, std::function<runlog::Status()> execute,
      std::function<Napi::Value(Napi::Env)> on_ok)
      : Napi::AsyncWorker(owner.Env(), "runlog"),
        deferred_(Napi::Promise::Deferred::New(owner.Env())),
        owner_(Napi::Persistent(owner)),
        path_(std::move(path)),
        execute_(std::move(execute)),
        on_ok_(std::move(on_ok)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = execute_(); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(make_error(env, status_, path_).Value());
      return;
    }
    try {
      deferred_.Resolve(on_ok_ ? on_ok_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  std::string path_;
  std::function<runlog::Status()> execute_;
  std::function<Napi::Value(Napi::Env)> on_ok_;
  runlog::Status status_;
};

Napi::Promise run_job(Napi::Object owner, std::string path, std::function<runlog::Status()> execute,
                      std::function<Napi::Value(Napi::Env)> on_ok = nullptr) {
  auto* job = new Job(owner, std::move(path), std::move(execute), std::move(on_ok));
  Napi::Promise p = job->promise();
  job->Queue();
  return p;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

class NativeEngine : public Napi::ObjectWrap<NativeEngine> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeEngine",
                       {
                           InstanceMethod<&NativeEngine::open>("open"),
                           InstanceMethod<&NativeEngine::open_run>("openRun"),
                           InstanceMethod<&NativeEngine::open_conversation>("openConversation"),
                           InstanceMethod<&NativeEngine::push_stdout>("pushStdout"),
                           InstanceMethod<&NativeEngine::push_stderr>("pushStderr"),
                           InstanceMethod<&NativeEngine::push_event>("pushEvent"),
                           InstanceMethod<&NativeEngine::push_chunk>("pushChunk"),
                           InstanceMethod<&NativeEngine::summary>("summary"),
                           InstanceMethod<&NativeEngine::stream_dir>("streamDir"),
                           InstanceMethod<&NativeEngine::close_stream>("closeStream"),
                           InstanceMethod<&NativeEngine::flush>("flush"),
                           InstanceMethod<&NativeEngine::begin_turn>("beginTurn"),
                           InstanceMethod<&NativeEngine::emit>("emit"),
                           InstanceMethod<&NativeEngine::end_turn>("endTurn"),
                           InstanceMethod<&NativeEngine::subscribe>("subscribe"),
                           InstanceMethod<&NativeEngine::sub_next>("subNext"),
                           InstanceMethod<&NativeEngine::unsubscribe>("unsubscribe"),
                           InstanceMethod<&NativeEngine::set_active>("setActive"),
                           InstanceMethod<&NativeEngine::stats>("stats"),
                           InstanceMethod<&NativeEngine::close>("close"),
                           InstanceMethod<&NativeEngine::close_sync>("closeSync"),
                       });
  }

  // new NativeEngine(onAcks): onAcks(acks: Float64Array, errors: Error[] with
  // .stream and .durable) is called on the JavaScript thread once per batch.
  explicit NativeEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeEngine>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw_invalid(env, "NativeEngine needs the ack callback");
    auto alive = acks_alive_;
    acks_ = AckFunction::New(env, info[0].As<Napi::Function>(), "runlog-acks", 0, 1, nullptr,
                             [alive](Napi::Env, void*, std::nullptr_t*) { *alive = false; });
    *acks_alive_ = true;
    acks_.Unref(env);
    // Registered after the thread-safe function, so it runs before that
    // function's own teardown: the engine is closed while it can still ack.
    env_ = env;
    napi_add_env_cleanup_hook(env, &NativeEngine::cleanup_hook, this);
    hook_registered_ = true;
  }

  ~NativeEngine() override {
    shutdown();
    if (hook_registered_) napi_remove_env_cleanup_hook(env_, &NativeEngine::cleanup_hook, this);
  }

  static void cleanup_hook(void* self) {
    auto* e = static_cast<NativeEngine*>(self);
    e->hook_registered_ = false;
    e->shutdown();
  }

 private:
  // ---- opening

  Napi::Value open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (engine_ || opening_) throw_invalid(env, "the engine is already open");
    if (!info[0].IsObject()) throw_invalid(env, "options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    runlog::Options opts;
    get_string(o, "runsRoot", &opts.runsRoot, true);
    get_string(o, "conversationsRoot", &opts.conversationsRoot, true);
    std::string durability = "batch";
    get_string(o, "durability", &durability, true);
    if (durability == "batch") {
      opts.durability = runlog::Durability::batch;
    } else if (durability == "none") {
      opts.durability = runlog::Durability::none;
    } else {
      throw_invalid(env, "durability must be \"batch\" or \"none\", not \"" + durability + "\"");
    }
    auto number = [&](const char* key, auto* out) {
      Napi::Value v = o.Get(key);
      if (v.IsUndefined()) return;
      if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0) throw_invalid(env, std::string(key) + " must be a number >= 0");
      *out = static_cast<std::remove_reference_t<decltype(*out)>>(v.As<Napi::Number>().Int64Value());
    };
    number("inFlightBudget", &opts.inFlightBudget);
    number("maxBatchBytes", &opts.maxBatchBytes);
    number("recordLimit", &opts.recordLimit);
    number("openFileLimit", &opts.openFileLimit);
    number("syncThreads", &opts.syncThreads);
    if (Napi::Value j = o.Get("journal"); !j.IsUndefined()) {
      if (!j.IsBoolean()) throw_invalid(env, "journal must be a boolean");
      opts.journal = j.As<Napi::Boolean>().Value();
    }
    std::int64_t delay_us = opts.maxBatchDelay.count();
    number("maxBatchDelayUs", &delay_us);
    opts.maxBatchDelay = std::chrono::microseconds(delay_us);
    opts.overBudget = runlog::OverBudget::would_block;  // a push never waits on this thread
    opening_ = true;
    auto opened = std::make_shared<std::unique_ptr<runlog::Engine>>();
    const std::string root = opts.runsRoot;
    return run_job(
        Value(), root,
        [opts = std::move(opts), opened]() mutable { return runlog::Engine::open(std::move(opts)).get(*opened); },
        [this, opened](Napi::Env e) {
          opening_ = false;
          engine_ = std::move(*opened);
          producer_ = std::make_unique<runlog::Producer>(*engine_);
          ack_thread_ = std::thread([this] { ack_loop(); });
          return e.Undefined();
        });
  }

  Napi::Value open_run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    if (!info[0].IsObject() || info[0].IsArray()) throw_invalid(env, "the run metadata must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    runlog::RunMetadata meta;
    get_string(o, "taskId", &meta.taskId, false);
    get_string(o, "runId", &meta.runId, false);
    get_string(o, "stepId", &meta.stepId, true);
    get_string(o, "stepName", &meta.stepName, true);
    get_string(o, "workerKind", &meta.workerKind, true);
    get_string(o, "repoRoot", &meta.repoRoot, true);
    get_string(o, "worktreePath", &meta.worktreePath, true);
    get_string(o, "createdAt", &meta.createdAt, true);
    get_string(o, "checkpointMode", &meta.checkpointMode, true);
    std::string s;
    if (get_string(o, "promptSummary", &s, true)) meta.promptSummary = s;
    if (get_string(o, "command", &s, true)) meta.command = s;
    Napi::Value attempt = o.Get("attempt");
    if (!attempt.IsUndefined()) {
      if (!attempt.IsNumber()) throw_invalid(env, "attempt must be a number");
      double a = attempt.As<Napi::Number>().DoubleValue();
      if (a != static_cast<double>(static_cast<std::int64_t>(a)) || a < 0) throw_invalid(env, "attempt must be an integer >= 0");
      meta.attempt = static_cast<std::int64_t>(a);
    }
    const std::string dir = join_path(join_path(engine_->options().runsRoot, meta.taskId), meta.runId);
    auto run = std::make_shared<runlog::Run>();
    runlog::Engine* engine = engine_.get();
    return run_job(
        Value(), dir, [engine, meta, run] { return engine->open_run(meta).get(*run); },
        [this, run, dir](Napi::Env e) {
          auto st = std::make_unique<Stream>();
          st->run = *run;
          st->path = dir;
          return add_stream(e, std::move(st));
        });
  }

  Napi::Value open_conversation(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    if (!info[0].IsString()) throw_invalid(env, "the conversation id must be a string");
    std::string id = info[0].As<Napi::String>().Utf8Value();
    const std::string dir = join_path(engine_->options().conversationsRoot, id);
    auto conv = std::make_shared<runlog::Conversation>();
    runlog::Engine* engine = engine_.get();
    return run_job(
        Value(), dir, [engine, id, conv] { return engine->open_conversation(id).get(*conv); },
        [this, conv](Napi::Env e) {
          auto st = std::make_unique<Stream>();
          st->is_conversation = true;
          st->conv = *conv;
          st->path = conv->dir();
          return add_stream(e, std::move(st));
        });
  }

  Napi::Value add_stream(Napi::Env env, std::unique_ptr<Stream> st) {
    std::lock_guard<std::mutex> lk(mu_);
    streams_.push_back(std::move(st));
    return Napi::Number::New(env, static_cast<double>(streams_.size() - 1));
  }

  // ---- pushing (the JavaScript thread only)

  Stream& stream_arg(const Napi::CallbackInfo& info, bool conversation) {
    Napi::Env env = info.Env();
    check_open(env);
    std::uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    if (id >= streams_.size() || streams_[id]->is_conversation != conversation) throw_invalid(env, "no such stream");
    return *streams_[id];
  }

  // The bytes of a string (as UTF-8) or of a Uint8Array, without a copy for the latter.
  std::string_view chunk_bytes(const Napi::Value& v, const Stream& st) {
    Napi::Env env = v.Env();
    if (v.IsString()) {
      std::size_t len = 0;
      napi_status s = napi_get_value_string_utf8(env, v, scratch_.get(), scratch_cap_, &len);
      if (s == napi_ok && len + 1 < scratch_cap_) return {scratch_.get(), len};
      if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) throw_invalid(env, "bad string", st.path);
      while (scratch_cap_ <= len + 1) scratch_cap_ *= 2;
      scratch_ = std::make_unique<char[]>(scratch_cap_);
      napi_get_value_string_utf8(env, v, scratch_.get(), scratch_cap_, &len);
      return {scratch_.get(), len};
    }
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
      auto a = v.As<Napi::Uint8Array>();
      return {reinterpret_cast<const char*>(a.Data()), a.ByteLength()};
    }
    throw_invalid(env, "a stream chunk must be a string, a Uint8Array or { text: string }", st.path);
  }

  // Records the push's ticket for the ack thread; returns its seq.
  Napi::Value pushed(Napi::Env env, std::uint32_t id, Stream& st, runlog::Result<runlog::Ticket> r) {
    if (!r.ok()) throw make_error(env, r.status(), st.path);
    const runlog::Ticket t = r.value();
    bool wake = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      st.pending = t;
      if (!st.dirty) {
        st.dirty = true;
        wake = dirty_.empty();
        dirty_.push_back(id);
      }
    }
    if (wake) cv_.notify_one();
    return Napi::Number::New(env, static_cast<double>(t.seq()));
  }

  std::int64_t created_ms(const Napi::Value& v) {
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
  }

  Napi::Value push_stream(const Napi::CallbackInfo& info, runlog::Channel channel) {
    Stream& st = stream_arg(info, false);
    std::string_view bytes = chunk_bytes(info[1], st);
    const std::int64_t ms = created_ms(info[2]);
    auto r = channel == runlog::Channel::stdout_ ? producer_->push_stdout(st.run, bytes, ms)
                                                 : producer_->push_stderr(st.run, bytes, ms);
    return pushed(info.Env(), info[0].As<Napi::Number>().Uint32Value(), st, std::move(r));
  }
  Napi::Value push_stdout(const Napi::CallbackInfo& info) { return push_stream(info, runlog::Channel::stdout_); }
  Napi::Value push_stderr(const Napi::CallbackInfo& info) { return push_stream(info, runlog::Channel::stderr_); }

  // pushEvent(id, type, level, message, dataJson, createdMs)
  Napi::Value push_event(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Stream& st = stream_arg(info, false);
    if (!info[1].IsString() || !info[2].IsString() || !info[3].IsString() || !info[4].IsString())
      throw_invalid(env, "a lifecycle event needs type, level and message strings", st.path);
    const std::string type = info[1].As<Napi::String>().Utf8Value();
    const std::string level = info[2].As<Napi::String>().Utf8Value();
    runlog::LifecycleEvent ev;
    auto t = runlog::parse_event_type(type);
    if (!t) throw_invalid(env, "unknown lifecycle event type \"" + type + "\"", st.path);
    auto l = runlog::parse_level(level);
    if (!l) throw_invalid(env, "unknown log level \"" + level + "\"", st.path);
    ev.type = *t;
    ev.level = *l;
    ev.message = info[3].As<Napi::String>().Utf8Value();
    ev.dataJson = info[4].As<Napi::String>().Utf8Value();
    return pushed(env, info[0].As<Napi::Number>().Uint32Value(), st,
                  producer_->push_event(st.run, ev, created_ms(info[5])));
  }

  // pushChunk(id, role, chunkJson)
  Napi::Value push_chunk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Stream& st = stream_arg(info, true);
    if (!info[1].IsString()) throw_invalid(env, "the role must be a string", st.path);
    const std::string role = info[1].As<Napi::String>().Utf8Value();
    auto r = runlog::parse_role(role);
    if (!r) throw_invalid(env, "unknown role \"" + role + "\"", st.path);
    if (!info[2].IsString()) throw_invalid(env, "the chunk must be an object", st.path);
    std::string_view json = chunk_bytes(info[2], st);
    return pushed(env, info[0].As<Napi::Number>().Uint32Value(), st, producer_->push_chunk(st.conv, *r, json));
  }

  // ---- reading a stream's state

  Napi::Value summary(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Stream& st = stream_arg(info, false);
    const runlog::LocalRunLogSummary s = st.run.summary();
    Napi::Object o = Napi::Object::New(env);
    o.Set("totalEntries", Napi::Number::New(env, static_cast<double>(s.totalEntries)));
    o.Set("lastSeq", Napi::Number::New(env, static_cast<double>(s.lastSeq)));
    o.Set("lifecycleEventCount", Napi::Number::New(env, static_cast<double>(s.lifecycleEventCount)));
    o.Set("stdoutChunkCount", Napi::Number::New(env, static_cast<double>(s.stdoutChunkCount)));
    o.Set("stderrChunkCount", Napi::Number::New(env, static_cast<double>(s.stderrChunkCount)));
    return o;
  }

  Napi::Value stream_dir(const Napi::CallbackInfo& info) {
    check_open(info.Env());
    std::uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    if (id >= streams_.size()) throw_invalid(info.Env(), "no such stream");
    return Napi::String::New(info.Env(), streams_[id]->path);
  }

  Napi::Value stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    const runlog::EngineStats s = engine_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("records", static_cast<double>(s.records));
    o.Set("batches", static_cast<double>(s.batches));
    o.Set("fsyncs", static_cast<double>(s.fsyncs));
    o.Set("syncWaves", static_cast<double>(s.syncWaves));
    o.Set("wouldBlockPushes", static_cast<double>(s.wouldBlockPushes));
    o.Set("recordsPerBatch", s.recordsPerBatch);
    return o;
  }

  // ---- barriers and closing a stream (on the libuv pool)

  Napi::Value close_stream(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    std::uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    if (id >= streams_.size()) throw_invalid(env, "no such stream");
    const Stream* st = streams_[id].get();
    return run_job(Value(), st->path, [st] { return st->is_conversation ? st->conv.close() : st->run.close(); });
  }

  Napi::Value flush(const Napi::CallbackInfo& info) {
    check_open(info.Env());
    runlog::Engine* engine = engine_.get();
    return run_job(Value(), engine->options().runsRoot, [engine] { return engine->flush(); });
  }

  // ---- agent events

  Napi::Value begin_turn(const Napi::CallbackInfo& info) {
    Stream& st = stream_arg(info, true);
    if (!info[1].IsString()) throw_invalid(info.Env(), "the turn id must be a string", st.path);
    runlog::Status s = st.conv.begin_turn(info[1].As<Napi::String>().Utf8Value());
    if (!s.ok()) throw make_error(info.Env(), s, st.path);
    return info.Env().Undefined();
  }

  Napi::Value emit(const Napi::CallbackInfo& info) {
    Stream& st = stream_arg(info, true);
    if (!info[1].IsString()) throw_invalid(info.Env(), "the event must be an object", st.path);
    runlog::Status s = st.conv.emit(info[1].As<Napi::String>().Utf8Value());
    if (!s.ok()) throw make_error(info.Env(), s, st.path);
    return info.Env().Undefined();
  }

  Napi::Value end_turn(const Napi::CallbackInfo& info) {
    Stream& st = stream_arg(info, true);
    if (!info[1].IsString()) throw_invalid(info.Env(), "the turn id must be a string", st.path);
    std::string turn = info[1].As<Napi::String>().Utf8Value();
    std::string reason = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "stop";
    runlog::Conversation conv = st.conv;
    return run_job(Value(), st.path, [conv, turn, reason] { return conv.end_turn(turn, reason); });
  }

  Napi::Value subscribe(const Napi::CallbackInfo& info) {
    Stream& st = stream_arg(info, true);
    std::size_t capacity = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 1024;
    std::shared_ptr<runlog::Subscription> sub;
    runlog::Status s = st.conv.subscribe(capacity).get(sub);
    if (!s.ok()) throw make_error(info.Env(), s, st.path);
    subs_.push_back(std::move(sub));
    return Napi::Number::New(info.Env(), static_cast<double>(subs_.size() - 1));
  }

  // subNext(subId, waitMs) -> Promise<Array<[kind, seq, json]>>: what is
  // waiting, after up to waitMs for the first item. kind 0: event, 1: resync.
  Napi::Value sub_next(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_open(env);
    std::uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    if (id >= subs_.size() || !subs_[id]) throw_invalid(env, "no such subscription");
    std::shared_ptr<runlog::Subscription> sub = subs_[id];
    const auto wait = std::chrono::milliseconds(info[1].As<Napi::Number>().Int64Value());
    auto items = std::make_shared<std::vector<runlog::SubscriptionItem>>();
    return run_job(
        Value(), {},
        [sub, wait, items] {
          auto first = sub->next(wait);
          if (first) items->push_back(std::move(*first));
          while (items->size() < 4096) {
            auto more = sub->next();
            if (!more) break;
            items->push_back(std::move(*more));
          }
          return runlog::Status::OK();
        },
        [items](Napi::Env e) {
          Napi::Array out = Napi::Array::New(e, items->size());
          for (std::size_t i = 0; i < items->size(); ++i) {
            const auto& it = (*items)[i];
            Napi::Array row = Napi::Array::New(e, 3);
            row.Set(0u, Napi::Number::New(e, it.kind == runlog::SubscriptionItem::Kind::resync ? 1 : 0));
            row.Set(1u, Napi::Number::New(e, static_cast<double>(it.seq)));
            row.Set(2u, Napi::String::New(e, it.json));
            out.Set(static_cast<std::uint32_t>(i), row);
          }
          return out;
        });
  }

  Napi::Value unsubscribe(const Napi::CallbackInfo& info) {
    std::uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    if (id < subs_.size()) subs_[id].reset();
    return info.Env().Undefined();
  }

  // setActive(bool): keep the event loop alive while acknowledgements are awaited.
  Napi::Value set_active(const Napi::CallbackInfo& info) {
    if (*acks_alive_ && !released_) {
      if (info[0].ToBoolean().Value()) {
        acks_.Ref(info.Env());
      } else {
        acks_.Unref(info.Env());
      }
    }
    return info.Env().Undefined();
  }

  // ---- closing the engine

  // close(): every stream closed (everything pushed acknowledged), the ack
  // thread's last batch handed over, the engine's threads joined.
  Napi::Value close(const Napi::CallbackInfo&) {
    if (!engine_) return run_job(Value(), {}, [] { return runlog::Status::OK(); });
    closing_ = true;
    return run_job(
        Value(), engine_->options().runsRoot,
        [this] {
          runlog::Status st = engine_->close_all();
          stop_ack_thread();
          return st;
        },
        [this](Napi::Env e) {
          shutdown();
          return e.Undefined();
        });
  }

  Napi::Value close_sync(const Napi::CallbackInfo& info) {
    shutdown();
    return info.Env().Undefined();
  }

  // Idempotent; the JavaScript thread (close's OnOK, closeSync, the env
  // cleanup hook, the destructor).
  void shutdown() {
    if (engine_) (void)engine_->close_all();
    stop_ack_thread();
    subs_.clear();
    producer_.reset();
    engine_.reset();
    if (*acks_alive_ && !released_) {
      released_ = true;
      acks_.Release();
    }
  }

  void stop_ack_thread() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (ack_thread_.joinable()) ack_thread_.join();
  }

  void check_open(Napi::Env env) const {
    if (!engine_ || closing_) throw make_error(env, runlog::Status(runlog::Errc::closed, 0, "the engine is closed"), {});
  }

  // ---- the ack thread

  void ack_loop() {
    std::vector<std::pair<Stream*, std::uint32_t>> work;
    std::vector<runlog::Ticket> tickets;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return !dirty_.empty() || stop_; });
        if (dirty_.empty()) return;  // stop_, and nothing left to hand over
        for (std::uint32_t id : dirty_) {
          Stream* st = streams_[id].get();
          work.emplace_back(st, id);
          tickets.push_back(st->pending);
          st->dirty = false;
        }
        dirty_.clear();
      }
      auto* batch = new AckBatch;
      batch->acks.reserve(work.size() * 2);
      for (std::size_t i = 0; i < work.size(); ++i) {
        auto r = tickets[i].wait();
        if (r.ok()) {
          batch->acks.push_back(work[i].second);
          batch->acks.push_back(static_cast<double>(r.value()));
        } else {
          batch->errors.push_back({work[i].second, work[i].first->durable_seq(), r.status(), work[i].first->path});
        }
      }
      work.clear();
      tickets.clear();
      if (acks_.BlockingCall(batch) != napi_ok) delete batch;  // the environment is going away
    }
  }

  friend void deliver_acks(Napi::Env, Napi::Function, std::nullptr_t*, AckBatch*);

  // Constant once open() has resolved, until shutdown().
  std::unique_ptr<runlog::Engine> engine_;
  std::unique_ptr<runlog::Producer> producer_;  // the JavaScript thread's
  AckFunction acks_;
  // Set false by the thread-safe function's finalizer, which may run after this object is gone.
  std::shared_ptr<bool> acks_alive_ = std::make_shared<bool>(false);
  napi_env env_ = nullptr;
  bool hook_registered_ = false;
  bool released_ = false;
  bool opening_ = false;
  bool closing_ = false;
  std::thread ack_thread_;
  std::unique_ptr<char[]> scratch_ = std::make_unique<char[]>(1 << 16);
  std::size_t scratch_cap_ = 1 << 16;
  std::vector<std::shared_ptr<runlog::Subscription>> subs_;  // the JavaScript thread's

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Stream>> streams_;  // grows under mu_, on the JavaScript thread
  std::vector<std::uint32_t> dirty_;              // protected by mu_
  bool stop_ = false;                             // protected by mu_
};

void deliver_acks(Napi::Env env, Napi::Function callback, std::nullptr_t*, AckBatch* batch) {
  std::unique_ptr<AckBatch> owned(batch);
  if (env == nullptr || callback.IsEmpty()) return;
  // Nothing may escape from here (the thread-safe function calls this outside
  // any JavaScript frame): while the environment is torn down (a worker
  // thread's process.exit), JavaScript can no longer run and every call fails.
  try {
    Napi::Float64Array acks = Napi::Float64Array::New(env, owned->acks.size());
    std::copy(owned->acks.begin(), owned->acks.end(), acks.Data());
    Napi::Array errors = Napi::Array::New(env, owned->errors.size());
    for (std::size_t i = 0; i < owned->errors.size(); ++i) {
      const AckError& e = owned->errors[i];
      Napi::Error err = make_error(env, e.status, e.path);
      err.Set("stream", Napi::Number::New(env, e.stream));
      err.Set("durable", Napi::Number::New(env, static_cast<double>(e.durable)));
      errors.Set(static_cast<std::uint32_t>(i), err.Value());
    }
    callback.Call({acks, errors});
  } catch (const Napi::Error&) {
    // The environment is going away; its promises will never be awaited.
  }
}

}  // namespace

Napi::Object init_engine(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeEngine", NativeEngine::define(env));
  return exports;
}

}  // namespace runlog_node
