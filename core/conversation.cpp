// core/conversation.cpp — conversations on the engine (runlog/conversation.h):
// opening, pushing chunks, reconcile, and the agent-event subscriptions.
// Conversation records go through the same queue, sequencer, batches and
// waves as runs (Kind::stored); nothing here runs on the sequencer thread.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>

#include "core/chunk_codec.h"
#include "core/engine_internal.h"
#include "core/ids.h"
#include "core/utf8.h"

namespace runlog {
namespace detail {

void Subscriber::offer(SubscriptionItem&& item) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (overflow) return;  // dropped: the resync owed covers it
    if (items.size() >= capacity) {
      overflow = true;  // next() hands out a resync from last_seq after what is buffered
      return;
    }
    if (item.seq != 0) last_seq = item.seq;
    items.push_back(std::move(item));
  }
  cv.notify_one();
}

namespace {

std::string conv_key(std::string_view id) { return fmt::format("conversation {}", id); }

// `{"type":"<type>","conversationId":…,"turnId":…` — the head every turn event shares.
std::string event_head(std::string_view type, const StreamState& s, std::string_view turn) {
  std::string out = R"({"type":")";
  out += type;
  out += R"(","conversationId":)";
  append_json_string(&out, s.meta.runId);
  out += R"(,"turnId":)";
  append_json_string(&out, turn);
  return out;
}

// Caller holds cs.mu. Hands `item` to every live subscriber, dropping dead ones.
void publish_locked(ConvState& cs, const SubscriptionItem& item) {
  std::size_t keep = 0;
  for (std::size_t i = 0; i < cs.subscribers.size(); ++i) {
    if (auto sub = cs.subscribers[i].lock()) {
      SubscriptionItem copy = item;
      sub->offer(std::move(copy));
      if (keep != i) cs.subscribers[keep] = std::move(cs.subscribers[i]);  // never a self-move
      ++keep;
    }
  }
  cs.subscribers.resize(keep);
  cs.n_subscribers.store(static_cast<int>(keep), std::memory_order_relaxed);
}

// The AgentEvent a chunk is reported as, or "" (system chunks, no open turn).
std::string chunk_event(const StreamState& s, const ConvState& cs, const ChunkInfo& info) {
  if (cs.turn.empty()) return {};
  // info.chunk is canonical: {"type":"<name>",<rest>
  const std::string_view name = chunk_type_name(info.type);
  std::string_view rest = info.chunk.substr(10 + name.size());  // after {"type":"<name>"
  std::string out;
  switch (info.type) {
    case ChunkType::text:
    case ChunkType::thinking:
      out = event_head(info.type == ChunkType::text ? "text-delta" : "reasoning-delta", s, cs.turn);
      out += R"(,"delta":)";
      out += rest.substr(8);  // ,"text": -> the string and '}'
      return out;
    case ChunkType::tool_call:
    case ChunkType::tool_result:
    case ChunkType::error:
      out = event_head(name, s, cs.turn);
      out += rest;
      return out;
    case ChunkType::system: return {};
  }
  return {};
}

}  // namespace
}  // namespace detail

// ------------------------------------------------------------ Subscription

Subscription::~Subscription() = default;

std::optional<SubscriptionItem> Subscription::next(std::chrono::milliseconds timeout) {
  detail::Subscriber& s = *sub_;
  std::unique_lock<std::mutex> lock(s.mu);
  if (timeout.count() > 0) s.cv.wait_for(lock, timeout, [&] { return !s.items.empty() || s.overflow; });
  if (!s.items.empty()) {
    SubscriptionItem item = std::move(s.items.front());
    s.items.pop_front();
    return item;
  }
  if (s.overflow) {
    s.overflow = false;
    SubscriptionItem r;
    r.kind = SubscriptionItem::Kind::resync;
    r.seq = s.last_seq;
    return r;
  }
  return std::nullopt;
}

std::size_t Subscription::pending() const {
  std::lock_guard<std::mutex> lock(sub_->mu);
  return sub_->items.size() + (sub_->overflow ? 1 : 0);
}

// ------------------------------------------------------------ Conversation

const std::string& Conversation::id() const { return stream_->meta.runId; }
std::uint64_t Conversation::appended_seq() const { return stream_->appended.load(std::memory_order_acquire); }
std::uint64_t Conversation::durable_seq() const { return stream_->durable.load(std::memory_order_acquire); }
Status Conversation::health() const {
  return stream_->failed.load(std::memory_order_acquire) ? stream_->error : Status::OK();
}
std::uint64_t Conversation::chunk_count() const { return stream_->written_count[0].load(std::memory_order_relaxed); }
std::vector<std::string> Conversation::repairs() const { return stream_->repairs; }
std::string Conversation::dir() const { return stream_->conv->dir; }
Status Conversation::flush() const { return Run(engine_, stream_).flush(); }
Status Conversation::close() const { return Run(engine_, stream_).close(); }

Result<ReconcileResult> Conversation::reconcile() const {
  detail::ConvState& cs = *stream_->conv;
  ReconcileResult r;
  {
    std::lock_guard<std::mutex> lock(cs.mu);
    if (!cs.open_calls.empty()) {
      detail::ProducerSlot* slot = engine_->acquire_slot();
      Status failed;
      std::size_t done = 0;
      std::string fragment;
      for (const auto& [call_id, tool_name] : cs.open_calls) {
        fragment = R"("role":"tool","chunk":)";
        fragment += detail::interrupted_tool_result(call_id, tool_name);
        auto seq = detail::push_stored(*engine_, *slot, *stream_, fragment);
        if (!seq.ok()) {
          failed = seq.status();
          break;
        }
        ++done;
        ++r.appended;
        if (!cs.turn.empty() && !cs.subscribers.empty()) {
          SubscriptionItem ev;
          ev.seq = seq.value();
          ev.json = detail::event_head("tool-result", *stream_, cs.turn);
          std::string chunk = detail::interrupted_tool_result(call_id, tool_name);
          ev.json += std::string_view(chunk).substr(sizeof(R"({"type":"tool-result")") - 1);
          detail::publish_locked(cs, ev);
        }
      }
      engine_->release_slot(slot);
      cs.open_calls.erase(cs.open_calls.begin(), cs.open_calls.begin() + static_cast<std::ptrdiff_t>(done));
      if (!failed.ok()) return failed;
    }
  }
  RUNLOG_RETURN_IF_ERROR(flush());
  r.lastSeq = durable_seq();
  return r;
}

Status Conversation::begin_turn(std::string_view turn_id) const {
  if (turn_id.empty()) return Status::Invalid("turnId: must not be empty");
  detail::ConvState& cs = *stream_->conv;
  std::lock_guard<std::mutex> lock(cs.mu);
  if (!cs.turn.empty())
    return Status::Invalid(fmt::format("turn \"{}\" is still open in conversation {}", cs.turn, id()));
  cs.turn = std::string(turn_id);
  SubscriptionItem ev;
  ev.json = detail::event_head("turn-start", *stream_, cs.turn) + "}";
  detail::publish_locked(cs, ev);
  return Status::OK();
}

Status Conversation::emit(std::string_view event_json) const {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(event_json);
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(padded).get(doc) || doc.get_object().get(obj))
    return Status::Invalid("event: must be a JSON object");
  std::string_view type;
  if (obj["type"].get_string().get(type)) return Status::Invalid("event: missing string \"type\"");
  detail::ConvState& cs = *stream_->conv;
  std::lock_guard<std::mutex> lock(cs.mu);
  std::string out;
  auto need_str = [&](const char* key) -> Status {
    std::string_view v;
    if (obj[key].get_string().get(v)) return Status::Invalid(fmt::format("event {}: \"{}\" must be a string", type, key));
    out += fmt::format(R"(,"{}":)", key);
    append_json_string(&out, v);
    return Status::OK();
  };
  if (type == "status") {
    out = R"({"type":"status","conversationId":)";
    append_json_string(&out, id());
    RUNLOG_RETURN_IF_ERROR(need_str("status"));
  } else {
    if (cs.turn.empty()) return Status::Invalid(fmt::format("event {}: no turn is open", type));
    if (type == "usage") {
      simdjson::dom::object u;
      if (obj["usage"].get_object().get(u)) return Status::Invalid("event usage: \"usage\" must be an object");
      out = detail::event_head("usage", *stream_, cs.turn) + R"(,"usage":{)";
      bool first = true;
      for (const char* key : {"inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens"}) {
        auto f = u[key];
        const bool optional = key[0] == 'c';
        if (f.error() == simdjson::NO_SUCH_FIELD && optional) continue;
        std::uint64_t n = 0;
        if (f.get_uint64().get(n)) return Status::Invalid(fmt::format("event usage: \"{}\" must be a count", key));
        out += fmt::format(R"({}"{}":{})", first ? "" : ",", key, n);
        first = false;
      }
      out += "}";
    } else if (type == "tool-output") {
      out = detail::event_head("tool-output", *stream_, cs.turn);
      RUNLOG_RETURN_IF_ERROR(need_str("toolCallId"));
      RUNLOG_RETURN_IF_ERROR(need_str("data"));
      std::string_view stream;
      if (obj["stream"].get_string().get(stream) || (stream != "stdout" && stream != "stderr"))
        return Status::Invalid("event tool-output: \"stream\" must be \"stdout\" or \"stderr\"");
      out += fmt::format(R"(,"stream":"{}")", stream);
    } else {
      return Status::Invalid(fmt::format(
          "event: type \"{}\" is not emitted this way (status, usage or tool-output; chunks are pushed, "
          "turn-start/done/turn-sealed come from begin_turn/end_turn)",
          type));
    }
  }
  out += "}";
  SubscriptionItem ev;
  ev.json = std::move(out);
  detail::publish_locked(cs, ev);
  return Status::OK();
}

Status Conversation::end_turn(std::string_view turn_id, std::string_view reason) const {
  detail::ConvState& cs = *stream_->conv;
  std::string turn;
  {
    std::lock_guard<std::mutex> lock(cs.mu);
    if (cs.turn.empty() || cs.turn != turn_id)
      return Status::Invalid(fmt::format("turn \"{}\" is not the open turn of conversation {}", turn_id, id()));
    SubscriptionItem ev;
    ev.json = detail::event_head("done", *stream_, cs.turn) + R"(,"reason":)";
    append_json_string(&ev.json, reason);
    ev.json += "}";
    detail::publish_locked(cs, ev);
    turn = cs.turn;
  }
  // Sealed only once every chunk pushed so far (the turn's among them) is durable.
  Status st = flush();
  std::lock_guard<std::mutex> lock(cs.mu);
  cs.turn.clear();
  if (!st.ok()) return st;
  SubscriptionItem ev;
  ev.json = detail::event_head("turn-sealed", *stream_, turn) + "}";
  detail::publish_locked(cs, ev);
  return Status::OK();
}

Result<std::shared_ptr<Subscription>> Conversation::subscribe(std::size_t capacity) const {
  if (capacity < 2) return Status::Invalid(fmt::format("subscription capacity {} is below 2", capacity));
  auto sub = std::make_shared<detail::Subscriber>();
  sub->capacity = capacity;
  detail::ConvState& cs = *stream_->conv;
  {
    std::lock_guard<std::mutex> lock(cs.mu);
    sub->last_seq = appended_seq();
    cs.subscribers.push_back(sub);
    cs.n_subscribers.store(static_cast<int>(cs.subscribers.size()), std::memory_order_relaxed);
  }
  return std::shared_ptr<Subscription>(new Subscription(std::move(sub)));
}

// --------------------------------------------------------------- Producer

Result<Ticket> Producer::push_chunk(const Conversation& conv, Role role, std::string_view chunk_json) {
  if (conv.stream_ == nullptr || conv.engine_ != engine_)
    return Status::Invalid("push to a conversation of another engine");
  detail::StreamState& s = *conv.stream_;
  thread_local std::string fragment;
  detail::ChunkInfo info;
  RUNLOG_RETURN_IF_ERROR(detail::encode_chunk_fragment(role, chunk_json, &fragment, &info));
  detail::ConvState& cs = *s.conv;
  const bool tool = info.type == detail::ChunkType::tool_call || info.type == detail::ChunkType::tool_result;
  // Pushes that change the open tool-calls, or that subscribers see, are
  // serialized per conversation so that their order is the seq order.
  std::unique_lock<std::mutex> lock(cs.mu, std::defer_lock);
  if (tool || cs.n_subscribers.load(std::memory_order_relaxed) > 0) lock.lock();
  auto open = cs.open_calls.end();
  if (tool) {
    open = std::find_if(cs.open_calls.begin(), cs.open_calls.end(),
                        [&](const auto& c) { return c.first == info.tool_call_id; });
    if (info.type == detail::ChunkType::tool_call && open != cs.open_calls.end())
      return Status::Invalid(fmt::format("chunk: tool-call \"{}\" is already open (each toolCallId once)",
                                         info.tool_call_id));
    if (info.type == detail::ChunkType::tool_result && open == cs.open_calls.end())
      return Status::Invalid(fmt::format(
          "chunk: tool-result for \"{}\", which is not an open tool-call (never called, or already answered)",
          info.tool_call_id));
  }
  auto seq = detail::push_stored(*engine_, *slot_, s, fragment);
  if (!seq.ok()) return seq.status();
  if (info.type == detail::ChunkType::tool_call)
    cs.open_calls.emplace_back(std::string(info.tool_call_id), std::string(info.tool_name));
  else if (info.type == detail::ChunkType::tool_result)
    cs.open_calls.erase(open);
  if (lock.owns_lock() && !cs.subscribers.empty()) {
    SubscriptionItem ev;
    ev.json = detail::chunk_event(s, cs, info);
    ev.seq = seq.value();
    if (!ev.json.empty()) detail::publish_locked(cs, ev);
  }
  return Ticket(&s, seq.value());
}

// ----------------------------------------------------------------- Engine

Result<Conversation> Engine::open_conversation(std::string_view id) {
  RUNLOG_RETURN_IF_ERROR(validate_id("conversationId", id));
  detail::EngineCore& core = *core_;
  const std::string key = detail::conv_key(id);
  if (detail::StreamState* existing = core.claim_key(key)) return Conversation(&core, existing);
  auto done_opening = [&] { core.release_key(key); };
  detail::RecoveredStream rec;
  auto opened = core.storage->open_conversation(std::string(id), &rec);
  if (!opened.ok()) {
    done_opening();
    return opened.status();
  }
  auto s = std::make_unique<detail::StreamState>();
  s->engine = &core;
  s->conversation = true;
  s->conv = std::make_unique<detail::ConvState>();
  s->conv->open_calls = std::move(rec.open_tool_calls);
  s->conv->dir = rec.dir;
  s->key = key;
  s->meta.runId = std::string(id);  // the conversation's id (no run metadata)
  s->repairs = rec.repairs;
  s->storage = std::move(opened).value();
  s->base = rec.last_seq;
  s->appended.store(rec.last_seq, std::memory_order_relaxed);
  s->durable.store(rec.last_seq, std::memory_order_relaxed);
  s->own.start(rec.last_seq, rec.sizes, {rec.summary.totalEntries, 0, 0});
  s->written_count[0].store(rec.summary.totalEntries, std::memory_order_relaxed);
  core.descriptors.fetch_add(s->storage->descriptor_count(), std::memory_order_relaxed);
  Conversation conv(&core, core.publish_stream(std::move(s)));
  if (auto r = conv.reconcile(); !r.ok()) return r.status();
  return conv;
}

}  // namespace runlog
