// tools/views.cpp — see views.h. The listing reads the small files only; the
// replay and summary bytes are those of io/reader's output functions.
#include "tools/views.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <memory>

#include "core/timefmt.h"
#include "core/utf8.h"
#include "io/journal.h"
#include "io/conversation_dir.h"
#include "io/reader.h"
#include "io/fs.h"
#include "io/recovery.h"
#include "io/run_dir.h"

namespace runlog::tools {
namespace {

// The last good seq N of a stream that no writer holds, by recovery's own
// read-only verdict (SPEC "Recovery", floor included); a corrupt stream is
// named (file and byte offset) in *problems and counts 0 entries.
std::uint64_t checked_last_seq(const Result<io::RecoveryPlan>& plan, std::string_view what,
                               std::vector<std::string>* problems) {
  if (plan.ok()) return plan->last_seq;
  problems->push_back(fmt::format("{}: {}", what, plan.status().to_string()));
  return 0;
}

RunRow read_run(io::Dir& run, const std::string& task, const std::string& name,
                std::vector<std::string>* problems) {
  RunRow row;
  row.task = task;
  row.run = name;
  std::optional<std::uint64_t> durable;
  if (io::DurableMark mark; io::read_durable_mark(run).get(mark).ok()) {
    row.live = mark.live;
    durable = mark.seq;
  }
  std::optional<RunStateSnapshot> state;
  std::string text;
  if (io::read_file(run, "state.json").get(text).ok()) {
    auto parsed = io::state_from_json(text);
    if (parsed.ok()) state = std::move(parsed).value();
  }
  for (const char* file : {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"}) {
    std::unique_ptr<io::File> f;
    std::uint64_t size = 0;
    if (!run.open_file(file, io::OpenMode::read_only, 0).get(f).ok() || !f->size().get(size).ok()) continue;
    row.bytes += size;
  }
  row.entries = row.live ? durable.value_or(0) : checked_last_seq(io::peek_run(run), task + "/" + name, problems);
  if (state) {
    row.status = std::string(status_name(state->status));
    row.abandoned = io::is_abandoned(row.live, state->status);
    row.started = state->startedAt;
    std::optional<std::int64_t> from = parse_iso_ms(state->startedAt);
    std::optional<std::int64_t> to;
    if (state->finishedAt) to = parse_iso_ms(*state->finishedAt);
    else if (row.live) to = now_unix_ms();
    else to = parse_iso_ms(state->updatedAt);
    if (from && to) row.duration = static_cast<double>(*to - *from) / 1000.0;
  }
  return row;
}

ConversationRow read_conversation_row(io::Dir& dir, const std::string& id, std::vector<std::string>* problems) {
  ConversationRow row;
  row.id = id;
  std::optional<std::uint64_t> durable;
  if (io::DurableMark mark; io::read_durable_mark(dir).get(mark).ok()) {
    row.live = mark.live;
    durable = mark.seq;
  }
  std::unique_ptr<io::File> f;
  std::uint64_t size = 0;
  if (dir.open_file("chunks.jsonl", io::OpenMode::read_only, 0).get(f).ok() && f->size().get(size).ok()) {
    row.bytes = size;
    const std::string_view chunks[] = {io::kChunksFileName};
    row.entries = row.live ? durable.value_or(0)
                           : checked_last_seq(io::plan_stream_read_only(dir, chunks), id, problems);
  }
  return row;
}

bool is_run_folder(io::Dir& dir) {
  std::vector<std::string> names;
  if (!dir.list().get(names).ok()) return false;
  for (const std::string& n : names)
    if (n == "meta.json" || n == "state.json" || n == "durable.seq" || n == "worker.jsonl" || n == "stdout.jsonl" ||
        n == "stderr.jsonl")
      return true;
  return false;
}

std::vector<std::string> sorted_folders(io::Dir& dir) {
  std::vector<std::string> names;
  if (!dir.list().get(names).ok()) return {};
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Result<Listing> list_root(const std::string& root_path) {
  RUNLOG_RETURN_IF_ERROR(io::finish_journals_above(*io::posix_fs(), root_path));
  std::unique_ptr<io::Dir> root;
  RUNLOG_RETURN_IF_ERROR(io::posix_fs()->open_root(root_path, false, 0).get(root));
  Listing out;
  for (const std::string& task : sorted_folders(*root)) {
    std::unique_ptr<io::Dir> tdir;
    if (!root->open_dir(task, false, 0).get(tdir).ok()) continue;  // a file, a symlink: not a task folder
    if (auto has = tdir->exists("chunks.jsonl"); has.ok() && has.value()) {  // a conversation
      out.conversations.push_back(read_conversation_row(*tdir, task, &out.problems));
      continue;
    }
    for (const std::string& run : sorted_folders(*tdir)) {
      std::unique_ptr<io::Dir> rdir;
      if (!tdir->open_dir(run, false, 0).get(rdir).ok() || !is_run_folder(*rdir)) continue;
      out.runs.push_back(read_run(*rdir, task, run, &out.problems));
    }
  }
  return out;
}

std::string run_row_json(const RunRow& r) {
  std::string out = "{\"taskId\":";
  append_json_string(&out, r.task);
  out += ",\"runId\":";
  append_json_string(&out, r.run);
  out += ",\"status\":";
  if (r.status) append_json_string(&out, *r.status);
  else out += "null";
  out += fmt::format(",\"entries\":{},\"bytes\":{},\"startedAt\":", r.entries, r.bytes);
  if (r.started) append_json_string(&out, *r.started);
  else out += "null";
  out += ",\"durationSeconds\":";
  out += r.duration ? fmt::format("{:.3f}", *r.duration) : std::string("null");
  out += r.live ? ",\"live\":true" : ",\"live\":false";
  out += r.abandoned ? ",\"abandoned\":true}" : ",\"abandoned\":false}";
  return out;
}

std::string conversation_row_json(const ConversationRow& c) {
  std::string out = "{\"conversationId\":";
  append_json_string(&out, c.id);
  out += fmt::format(",\"entries\":{},\"bytes\":{},\"live\":{}}}", c.entries, c.bytes, c.live ? "true" : "false");
  return out;
}

Status append_entry(EntryFormat format, bool visible, const io::Entry& e, const io::RunContext& ctx, std::string* out) {
  switch (format) {
    case EntryFormat::jsonl:
      io::append_jsonl(e, ctx, out);
      return Status::OK();
    case EntryFormat::text:
      return io::append_text(e, visible, out);
    case EntryFormat::raw:
      return io::append_raw(e, out);
  }
  return Status::OK();
}

Status replay_run(io::LogReader& reader, const io::Source& src, const io::ReadFilter& filter, EntryFormat format,
                  bool visible, std::string* buf, const std::function<Status()>& flush, std::uint64_t* emitted) {
  RUNLOG_RETURN_IF_ERROR(reader.open(src, filter));
  const io::Entry* e = nullptr;
  Status st;
  while ((st = reader.next(&e)).ok() && e != nullptr) {
    if (emitted) ++*emitted;
    RUNLOG_RETURN_IF_ERROR(append_entry(format, visible, *e, reader.context(), buf));
    if (buf->size() >= (std::size_t{1} << 20)) RUNLOG_RETURN_IF_ERROR(flush());
  }
  return st;
}

Status append_summary_line(io::LogReader& reader, const io::Source& src, std::string* out) {
  Result<io::RunSummary> s = io::summarize(reader, src);
  if (!s.ok()) return s.status();
  *out += io::summary_json(s.value(), reader.context());
  *out += '\n';
  return Status::OK();
}

Status append_conversation(const std::string& dir, std::uint64_t after, std::uint64_t limit, bool messages,
                           std::string* out, std::vector<std::string>* notes) {
  io::LogReader reader;
  io::ReadFilter filter;
  filter.after = after;
  filter.limit = limit;
  const std::size_t start = out->size();
  Status st = reader.open(io::conversation_source(dir), filter);
  io::MessageWriter grouped;
  const io::Entry* e = nullptr;
  while (st.ok() && (st = reader.next(&e)).ok() && e != nullptr) {
    if (messages) grouped.add(*e, out);
    else io::append_stored(*e, out);
  }
  *notes = reader.notes();
  if (!st.ok()) {
    out->resize(start);  // all or nothing, as before any byte is printed
    return st;
  }
  grouped.finish(out);
  return Status::OK();
}

Status append_conversation_summary(const std::string& dir, std::string* out, std::vector<std::string>* notes) {
  io::LogReader reader;
  RUNLOG_RETURN_IF_ERROR(reader.open(io::conversation_source(dir)));
  std::map<std::string, std::uint64_t> roles, types;
  std::map<std::string, int> open;
  simdjson::dom::parser parser;
  std::uint64_t total = 0;
  const io::Entry* e = nullptr;
  Status st;
  while ((st = reader.next(&e)).ok() && e != nullptr) {
    ++total;
    ++roles[std::string(e->role())];
    simdjson::dom::element chunk;
    std::string_view type, call_id;
    if (parser.parse(e->chunk().data(), e->chunk().size()).get(chunk) || chunk["type"].get_string().get(type)) continue;
    ++types[std::string(type)];
    if ((type == "tool-call" || type == "tool-result") && !chunk["toolCallId"].get_string().get(call_id))
      open[std::string(call_id)] += type == "tool-call" ? 1 : -1;
  }
  std::uint64_t open_calls = 0;
  for (const auto& [k, v] : open) open_calls += v > 0 ? 1 : 0;
  auto counts = [](const std::map<std::string, std::uint64_t>& m) {
    std::string s = "{";
    for (const auto& [k, v] : m) s += fmt::format("{}\"{}\":{}", s.size() > 1 ? "," : "", k, v);
    return s + "}";
  };
  *notes = reader.notes();
  RUNLOG_RETURN_IF_ERROR(st);
  const io::RunContext& ctx = reader.context();
  std::string id = dir;
  while (id.size() > 1 && id.back() == '/') id.pop_back();
  id = id.substr(id.find_last_of('/') + 1);
  std::string id_json;
  append_json_string(&id_json, id);
  *out += fmt::format("{{\"conversationId\":{},\"totalEntries\":{},\"lastSeq\":{},\"roles\":{},\"types\":{},"
                      "\"openToolCalls\":{},\"live\":{},\"durableSeq\":{}}}\n",
                      id_json, total, reader.last_seq(), counts(roles), counts(types), open_calls,
                      ctx.live ? "true" : "false",
                      ctx.has_durable_file ? std::to_string(ctx.durable_seq) : std::string("null"));
  return Status::OK();
}

}  // namespace runlog::tools
