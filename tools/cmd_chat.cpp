// tools/cmd_chat.cpp — `runlog chat append|reconcile`: conversation logs from
// the command line, on the engine (the same path as an embedding runner); and
// the conversation side of `runlog replay` and `runlog summary` (tools/chat.h).
#include <fmt/format.h>
#include <simdjson.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "io/reader.h"
#include "runlog/engine.h"
#include "tools/chat.h"
#include "tools/command.h"
#include "tools/views.h"

namespace runlog::tools {
namespace {

constexpr const char* kChatFooter = R"HELP(A conversation is <DIR>/<ID>/chunks.jsonl: one StoredChunk per line
({"seq":N,"role":"…","chunk":{…},"crc":"…"}), seq gap-free from 1. Opening
one creates it, or recovers it after a crash (a torn tail is cut), then
reconciles it: every tool-call without a tool-result gets one (role tool,
isError true, content saying it was interrupted).

  runlog chat append    --conversations-root DIR --id ID [--durability batch|none]
                        [--turn TURN_ID --events FILE]
      reads JSON lines {"role":"user|assistant|system|tool","chunk":{…}}
      from stdin (chunk: one of text, thinking, tool-call, tool-result,
      error, system, as contracts/wire.ts shapes them) and appends them
      in order. At the end prints {"lastSeq":N,"durableSeq":N}.
      A line that is not valid stops it: its number and what is wrong
      go to stderr, nothing from that line on is appended, what came
      before is made durable, and the exit status is 1.
  runlog chat reconcile --conversations-root DIR --id ID
      answers every open tool-call as above; prints
      {"appended":N,"lastSeq":N}. Running it again appends nothing.

Read a conversation back with `runlog replay DIR/ID [--after N]
[--format jsonl|messages]`; check it with `runlog verify DIR/ID`.

)HELP";

struct ChatArgs {
  std::string verb;
  std::string root, id;
  std::string durability = "batch";
  std::string turn, events_path;
  const CLI::Option* durability_given = nullptr;
};

std::uint64_t last_seq_on_disk(const std::string& dir) {
  io::LogReader reader;
  if (!reader.open(io::conversation_source(dir)).ok()) return 0;
  const io::Entry* e = nullptr;
  Status st;
  while ((st = reader.next(&e)).ok() && e != nullptr) {
  }
  return st.ok() ? reader.last_seq() : 0;
}

int run_chat(const ChatArgs& args) {
  const std::string& verb = args.verb;
  const bool turn = !args.turn.empty();
  if (verb == "reconcile" && (args.durability_given->count() > 0 || turn || !args.events_path.empty()))
    return usage_error("chat", "--durability, --turn and --events are for append");
  if (turn == args.events_path.empty()) return usage_error("chat", "--turn and --events go together");
  Options o;
  o.conversationsRoot = args.root;
  o.runsRoot = args.root;  // no runs here: nothing is made beside the conversations
  o.durability = args.durability == "none" ? Durability::none : Durability::batch;
  const std::string& id = args.id;
  const std::string* events_path = &args.events_path;
  const std::string dir = args.root + "/" + id;
  const std::uint64_t before = last_seq_on_disk(dir);
  auto engine = Engine::open(o);
  if (!engine.ok()) {
    fmt::print(stderr, "runlog chat: {}\n", engine.status().to_string());
    return engine.status().code() == Errc::invalid_argument ? 2 : 1;
  }
  auto conv = engine.value()->open_conversation(id);  // recovers and reconciles
  if (!conv.ok()) {
    fmt::print(stderr, "runlog chat: {}\n", conv.status().to_string());
    return conv.status().code() == Errc::invalid_argument ? 2 : 1;
  }
  if (verb == "reconcile") {
    auto r = conv.value().reconcile();
    if (!r.ok()) {
      fmt::print(stderr, "runlog chat reconcile: {}\n", r.status().to_string());
      return 1;
    }
    Status st = conv.value().close();
    if (!st.ok()) {
      fmt::print(stderr, "runlog chat reconcile: {}\n", st.to_string());
      return 1;
    }
    fmt::print("{{\"appended\":{},\"lastSeq\":{}}}\n", conv.value().durable_seq() - before, conv.value().durable_seq());
    return 0;
  }

  Producer producer(*engine.value());
  // --turn/--events: the turn's AgentEvents, drained after every push (the
  // buffer holds a whole line's worth; an overflow would be reported).
  std::FILE* events = nullptr;
  std::shared_ptr<Subscription> sub;
  if (turn) {
    events = std::fopen(events_path->c_str(), "w");
    if (events == nullptr) {
      fmt::print(stderr, "runlog chat append: cannot write {}: {}\n", *events_path, std::strerror(errno));
      return 1;
    }
    auto made = conv.value().subscribe(64);
    Status st = made.ok() ? conv.value().begin_turn(args.turn) : made.status();
    if (!st.ok()) {
      std::fclose(events);
      return usage_error("chat", st.message());
    }
    sub = std::move(made).value();
  }
  bool lost_events = false;
  auto drain = [&] {
    if (sub == nullptr) return;
    while (auto item = sub->next()) {
      if (item->kind == SubscriptionItem::Kind::resync) lost_events = true;
      else fmt::print(events, "{}\n", item->json);
    }
  };
  drain();
  simdjson::dom::parser parser;
  std::string line;
  std::uint64_t number = 0;
  int status = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string why;
    simdjson::dom::element doc;
    std::string_view role_text;
    simdjson::dom::element chunk;
    if (auto err = parser.parse(line).get(doc); err) why = fmt::format("not JSON ({})", simdjson::error_message(err));
    else if (!doc.is_object()) why = "not a JSON object";
    else if (doc["role"].get_string().get(role_text)) why = "missing string \"role\"";
    else if (doc["chunk"].get(chunk)) why = "missing \"chunk\"";
    else if (doc.get_object().value().size() != 2) why = "keys other than \"role\" and \"chunk\"";
    std::optional<Role> role;
    if (why.empty() && !(role = parse_role(role_text)))
      why = fmt::format("role \"{}\" is not system, user, assistant or tool", role_text);
    if (why.empty()) {
      auto t = producer.push_chunk(conv.value(), *role, simdjson::minify(chunk));
      if (!t.ok()) why = t.status().message();
    }
    if (!why.empty()) {
      fmt::print(stderr, "runlog chat append: stdin line {}: {}; nothing from this line on was appended\n", number, why);
      status = 1;
      break;
    }
    drain();
  }
  if (turn) {
    if (Status st = conv.value().end_turn(args.turn, status == 0 ? "stop" : "error"); !st.ok()) {
      fmt::print(stderr, "runlog chat append: {}\n", st.to_string());
      status = 1;
    }
    drain();
    if (lost_events) {
      fmt::print(stderr, "runlog chat append: events were dropped (subscriber overflow)\n");
      status = 1;
    }
    if (std::fclose(events) != 0) {
      fmt::print(stderr, "runlog chat append: writing {} failed\n", *events_path);
      status = 1;
    }
  }
  Status st = conv.value().close();
  if (!st.ok()) {
    fmt::print(stderr, "runlog chat append: {}\n", st.to_string());
    status = 1;
  }
  fmt::print("{{\"lastSeq\":{},\"durableSeq\":{}}}\n", conv.value().appended_seq(), conv.value().durable_seq());
  return status;
}

Runner setup_chat(CLI::App& app) {
  auto o = std::make_shared<ChatArgs>();
  app.add_option("VERB", o->verb, "append or reconcile")->type_name("")->required()->check(CLI::IsMember({"append", "reconcile"}));
  app.add_option("--conversations-root", o->root, "the folder holding conversation folders (made when missing)")
      ->type_name("DIR")
      ->required();
  app.add_option("--id", o->id, "the conversation: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}")->type_name("ID")->required();
  o->durability_given = add_durability_option(app, o->durability);
  app.add_option("--turn", o->turn, "append as one turn, and write its AgentEvents (contracts/wire.ts)")
      ->type_name("TURN_ID");
  app.add_option("--events", o->events_path,
                 "to FILE, one JSON object per line: turn-start, one event per\n"
                 "chunk (text-delta, reasoning-delta, tool-call, tool-result,\n"
                 "error), done, and turn-sealed once every chunk is durable")
      ->type_name("FILE");
  app.footer(std::string(kChatFooter) + exit_status_footer("success", "a bad line or a failure (message on stderr)"));
  return [o] { return run_chat(*o); };
}

}  // namespace

int replay_conversation(const std::string& dir, std::uint64_t after, std::uint64_t limit, const std::string& format) {
  if (format != "jsonl" && format != "messages")
    return usage_error("replay", fmt::format("a conversation takes --format jsonl or messages, not '{}'", format));
  std::string out;
  std::vector<std::string> notes;
  Status st = append_conversation(dir, after, limit, format == "messages", &out, &notes);
  for (const std::string& note : notes) fmt::print(stderr, "runlog replay: note: {}\n", note);
  if (!st.ok()) {
    fmt::print(stderr, "runlog replay: {}\n", st.to_string());
    return 1;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) {
    fmt::print(stderr, "runlog replay: writing stdout failed\n");
    return 1;
  }
  return 0;
}

std::vector<std::string> conversations_below(const std::string& path) {
  std::vector<std::string> out;
  auto root = io::posix_fs()->open_root(path, false, 0);
  if (!root.ok() || io::is_conversation_dir(path)) return out;
  std::vector<std::string> names;
  if (!root.value()->list().get(names).ok()) return out;
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::unique_ptr<io::Dir> sub;
    if (!root.value()->open_dir(n, false, 0).get(sub).ok()) continue;
    if (auto has = sub->exists("chunks.jsonl"); has.ok() && has.value()) out.push_back(path + "/" + n);
  }
  return out;
}

int summarize_conversation(const std::string& dir) {
  std::string out;
  std::vector<std::string> notes;
  Status st = append_conversation_summary(dir, &out, &notes);
  for (const std::string& note : notes) fmt::print(stderr, "runlog summary: note: {}\n", note);
  if (!st.ok()) {
    fmt::print(stderr, "runlog summary: {}\n", st.to_string());
    return 1;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

RUNLOG_COMMAND("chat", "append to and reconcile conversation logs (StoredChunk lines)", setup_chat, 45);

}  // namespace runlog::tools
