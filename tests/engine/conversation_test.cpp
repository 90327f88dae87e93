// tests/engine/conversation_test.cpp — conversations on the engine: contract
// checks, byte-for-byte round trips, gap-free seqs under many producers, sync
// after seq N, reconcile, agent events. Real engine, real files, real threads.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/crc32c.h"
#include "io/reader.h"
#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/fault_fs.h"
#include "support/process.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

// A conversation read back through io::LogReader (SourceKind::conversation).
struct ChunkRead {
  std::uint64_t seq = 0;
  std::string role, chunk;
};
struct ConvRead {
  std::vector<ChunkRead> entries;  // seq > after, in seq order
  std::uint64_t last_seq = 0;
  bool live = false;
  std::vector<std::string> notes;
  std::string messages;  // the messages view (io::MessageWriter)
};
Result<ConvRead> ReadConversation(const std::string& dir, std::uint64_t after = 0) {
  io::LogReader reader;
  io::ReadFilter f;
  f.after = after;
  RUNLOG_RETURN_IF_ERROR(reader.open(io::conversation_source(dir), f));
  ConvRead out;
  io::MessageWriter messages;
  const io::Entry* e = nullptr;
  Status st;
  while ((st = reader.next(&e)).ok() && e != nullptr) {
    EXPECT_TRUE(e->is_chunk());
    out.entries.push_back({e->seq(), std::string(e->role()), std::string(e->chunk())});
    messages.add(*e, &out.messages);
  }
  RUNLOG_RETURN_IF_ERROR(st);
  messages.finish(&out.messages);
  out.last_seq = reader.last_seq();
  out.live = reader.context().live;
  out.notes = reader.notes();
  return out;
}

class ConversationTest : public EngineTestBase {
 protected:
  Options ConvOptions(Durability d = Durability::batch) const {
    Options o = MakeOptions(d);
    o.conversationsRoot = conv_root();
    return o;
  }
  std::string conv_root() const { return tmp() + "/conversations"; }
  std::string conv_dir(std::string_view id) const { return conv_root() + "/" + std::string(id); }
  static Conversation Open(Engine& e, std::string_view id) {
    auto r = e.open_conversation(id);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? r.value() : Conversation();
  }
  static std::uint64_t PushAndWait(Producer& p, const Conversation& c, Role role, std::string_view chunk) {
    auto t = p.push_chunk(c, role, chunk);
    EXPECT_TRUE(t.ok()) << t.status().to_string() << " for " << chunk;
    if (!t.ok()) return 0;
    auto seq = t->wait();
    EXPECT_TRUE(seq.ok()) << seq.status().to_string();
    return seq.ok() ? seq.value() : 0;
  }
  ConvRead Read(std::string_view id, std::uint64_t after = 0) {
    auto r = ReadConversation(conv_dir(id), after);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : ConvRead{};
  }
};

// Every variant, written as a client's JSON.stringify would write it, comes
// back byte for byte; the line is exactly StoredChunk + crc.
TEST_F(ConversationTest, EveryVariantRoundTripsByteForByte) {
  auto engine = OpenEngine(ConvOptions());
  Conversation conv = Open(*engine, "c-roundtrip");
  Producer p(*engine);
  const std::string big(3u << 20, 'b');  // larger than the run record limit: conversation chunks are not split
  const std::vector<std::pair<Role, std::string>> chunks = {
      {Role::system, R"({"type":"system","text":"You are helpful. \"quoted\" \\ back\nslash\ttab"})"},
      {Role::user, "{\"type\":\"text\",\"text\":\"h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80 \\u0001\"}"},
      {Role::assistant, R"({"type":"thinking","text":"let me think…"})"},
      {Role::assistant,
       R"({"type":"tool-call","toolCallId":"call_1","toolName":"shell","input":{"cmd":["ls","-la"],"env":{"A":"é","n":[1,2.5,-3,true,null,{"deep":{"deeper":[]}}]},"s":"\"q\""}})"},
      {Role::tool, R"({"type":"tool-result","toolCallId":"call_1","toolName":"shell","content":"total 0\n","isError":false})"},
      {Role::assistant, R"({"type":"error","message":"rate limited","code":"429"})"},
      {Role::assistant, R"({"type":"error","message":"no code"})"},
      {Role::assistant, "{\"type\":\"text\",\"text\":\"" + big + "\"}"},
  };
  std::uint64_t last = 0;
  for (const auto& [role, chunk] : chunks) last = PushAndWait(p, conv, role, chunk);
  EXPECT_EQ(last, chunks.size());
  ASSERT_TRUE(conv.close().ok());

  ConvRead read = Read("c-roundtrip");
  ASSERT_EQ(read.entries.size(), chunks.size());
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(read.entries[i].seq, i + 1);
    EXPECT_EQ(read.entries[i].role, role_name(chunks[i].first));
    EXPECT_TRUE(read.entries[i].chunk == chunks[i].second) << "chunk " << i << " changed on its way";
  }
  // The line itself: {"seq":1,"role":"system","chunk":{…},"crc":"<crc32c of what precedes>"}\n
  std::vector<std::string> lines = ReadLines(conv_dir("c-roundtrip") + "/chunks.jsonl");
  ASSERT_EQ(lines.size(), chunks.size());
  const std::string& l0 = lines[0];
  const std::string head = R"({"seq":1,"role":"system","chunk":)" + chunks[0].second;
  ASSERT_EQ(l0.substr(0, head.size()), head);
  char hex[9] = {};
  runlog::crc32c_hex(runlog::crc32c(head.data(), head.size()), hex);
  EXPECT_EQ(l0.substr(head.size()), std::string(R"(,"crc":")") + hex + "\"}\n");
}

// Keys in another order and whitespace are accepted and written canonically.
TEST_F(ConversationTest, ChunksAreWrittenInTheContractsKeyOrder) {
  auto engine = OpenEngine(ConvOptions());
  Conversation conv = Open(*engine, "c-order");
  Producer p(*engine);
  PushAndWait(p, conv, Role::assistant, R"({ "input" : { "b" : 1 }, "toolName":"t", "toolCallId":"a", "type":"tool-call" })");
  PushAndWait(p, conv, Role::tool,
              R"({ "isError" : true, "content":"x", "toolName":"t", "type":"tool-result", "toolCallId":"a" })");
  ConvRead read = Read("c-order");
  ASSERT_EQ(read.entries.size(), 2u);
  EXPECT_EQ(read.entries[0].chunk, R"({"type":"tool-call","toolCallId":"a","toolName":"t","input":{"b":1}})");
  EXPECT_EQ(read.entries[1].chunk, R"({"type":"tool-result","toolCallId":"a","toolName":"t","content":"x","isError":true})");
}

TEST_F(ConversationTest, ChunksThatBreakTheContractAreRefusedAndNothingIsWritten) {
  auto engine = OpenEngine(ConvOptions());
  Conversation conv = Open(*engine, "c-bad");
  Producer p(*engine);
  PushAndWait(p, conv, Role::assistant, R"({"type":"tool-call","toolCallId":"k","toolName":"t","input":null})");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"type":"picture","url":"x"})", "unknown type \"picture\""},
      {R"({"text":"no type"})", "missing \"type\""},
      {R"({"type":"tool-call","toolName":"t","input":{}})", "missing \"toolCallId\""},
      {R"({"type":"tool-result","toolCallId":"k","toolName":"t","content":"c","isError":"true"})",
       "\"isError\" must be a boolean"},
      {R"({"type":"tool-result","toolCallId":"k","toolName":"t","content":"c"})", "missing \"isError\""},
      {R"({"type":"text","text":"x","extra":1})", "unexpected key \"extra\""},
      {R"({"type":"text","text":5})", "\"text\" must be a string"},
      {R"({"type":"error","message":"m","code":7})", "\"code\" must be a string"},
      {R"({"type":"tool-call","toolCallId":"k","toolName":"t","input":1})", "already open"},
      {R"({"type":"tool-result","toolCallId":"nope","toolName":"t","content":"c","isError":false})",
       "not an open tool-call"},
      {R"({"type":"text","text":"unterminated)", "not JSON"},
      {R"(["type","text"])", "must be a JSON object"},
      {"{\"type\":\"text\",\"text\":\"\xFF\"}", "not JSON"},
  };
  for (const auto& [chunk, why] : bad) {
    auto t = p.push_chunk(conv, Role::assistant, chunk);
    ASSERT_FALSE(t.ok()) << chunk;
    EXPECT_EQ(t.status().code(), Errc::invalid_argument) << chunk;
    EXPECT_NE(t.status().message().find(why), std::string::npos) << t.status().message() << " for " << chunk;
  }
  auto bad_role = p.push_chunk(conv, static_cast<Role>(9), R"({"type":"text","text":"x"})");
  ASSERT_FALSE(bad_role.ok());
  EXPECT_NE(bad_role.status().message().find("role"), std::string::npos);
  ASSERT_TRUE(conv.flush().ok());
  EXPECT_EQ(conv.appended_seq(), 1u);
  EXPECT_EQ(Read("c-bad").entries.size(), 1u);
  EXPECT_EQ(ReadLines(conv_dir("c-bad") + "/chunks.jsonl").size(), 1u);
}

class ConversationDurability : public ConversationTest, public ::testing::WithParamInterface<Durability> {};

// Many producers x many conversations: every conversation's seqs are exactly
// 1..N, each producer's chunks in its push order, every push there once.
TEST_P(ConversationDurability, ManyProducersManyConversationsAreGapFree) {
  auto engine = OpenEngine(ConvOptions(GetParam()));
  constexpr int kConvs = 8, kProducers = 4, kPerProducer = 600;
  std::vector<Conversation> convs;
  for (int c = 0; c < kConvs; ++c) convs.push_back(Open(*engine, "many-" + std::to_string(c)));
  // A run on the same engine at the same time: the two kinds share the pipeline.
  runlog::Run run = OpenRun(*engine, "t", "r");
  std::vector<std::thread> threads;
  for (int t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      Producer p(*engine);
      for (int i = 0; i < kPerProducer; ++i) {
        const Conversation& c = convs[static_cast<std::size_t>(i + t) % convs.size()];
        std::string chunk = R"({"type":"text","text":"p)" + std::to_string(t) + " " + std::to_string(i) + "\"}";
        ASSERT_TRUE(p.push_chunk(c, Role::assistant, chunk).ok());
        if (i % 10 == 0) {
          ASSERT_TRUE(p.push_stdout(run, "out\n").ok());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(engine->flush().ok());
  std::uint64_t total = 0;
  std::set<std::pair<int, int>> seen;
  for (int c = 0; c < kConvs; ++c) {
    ConvRead read = Read("many-" + std::to_string(c));
    EXPECT_TRUE(read.notes.empty());
    std::map<int, int> last_of_producer;
    for (std::size_t k = 0; k < read.entries.size(); ++k) {
      ASSERT_EQ(read.entries[k].seq, k + 1) << "conversation " << c;
      int t = -1, i = -1;
      ASSERT_EQ(std::sscanf(std::string(read.entries[k].chunk).c_str(), R"({"type":"text","text":"p%d %d"})", &t, &i), 2);
      auto [it, fresh] = last_of_producer.emplace(t, i);
      if (!fresh) {
        EXPECT_GT(i, it->second) << "producer " << t << " out of order in conversation " << c;
        it->second = i;
      }
      EXPECT_TRUE(seen.emplace(t, i).second);
    }
    EXPECT_EQ(convs[static_cast<std::size_t>(c)].durable_seq(), read.entries.size());
    total += read.entries.size();
  }
  EXPECT_EQ(total, std::uint64_t{kProducers} * kPerProducer);
  EXPECT_EQ(run.durable_seq(), std::uint64_t{kProducers} * (kPerProducer / 10));
}

// Sync clients that resume after every N see each chunk exactly once, and
// never one that is not durable.
TEST_P(ConversationDurability, SyncClientsResumingAfterNSeeEachChunkOnce) {
  auto engine = OpenEngine(ConvOptions(GetParam()));
  Conversation conv = Open(*engine, "sync");
  constexpr int kChunks = 3000;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    Producer p(*engine);
    for (int i = 0; i < kChunks; ++i)
      ASSERT_TRUE(p.push_chunk(conv, i % 2 ? Role::assistant : Role::user,
                               R"({"type":"text","text":")" + std::to_string(i) + "\"}")
                      .ok());
    ASSERT_TRUE(conv.flush().ok());
    done.store(true);
  });
  std::vector<std::uint64_t> got;
  std::uint64_t after = 0;
  for (;;) {
    const bool finished = done.load();
    auto r = ReadConversation(conv_dir("sync"), after);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const std::uint64_t durable_now = conv.durable_seq();
    EXPECT_TRUE(r->live);
    for (const auto& e : r->entries) {
      EXPECT_LE(e.seq, durable_now) << "a chunk was served before it was durable";
      EXPECT_EQ(e.chunk, R"({"type":"text","text":")" + std::to_string(e.seq - 1) + "\"}");
      got.push_back(e.seq);
    }
    if (!r->entries.empty()) after = r->entries.back().seq;
    if (finished) break;
  }
  writer.join();
  ASSERT_EQ(got.size(), std::size_t{kChunks});
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i + 1);
}

INSTANTIATE_TEST_SUITE_P(Durability, ConversationDurability, ::testing::Values(Durability::none, Durability::batch));

std::vector<std::string> ChunksOf(const ConvRead& read) {
  std::vector<std::string> out;
  for (const auto& e : read.entries) out.push_back(std::string(e.role) + " " + std::string(e.chunk));
  return out;
}

// Reconcile answers every open tool-call once: at open, on demand, again after
// a reopen (nothing more), and after a crash that left a torn tail.
TEST_F(ConversationTest, ReconcileIsIdempotentAcrossReopenAndCrash) {
  {
    auto engine = OpenEngine(ConvOptions());
    Conversation conv = Open(*engine, "rec");
    Producer p(*engine);
    PushAndWait(p, conv, Role::assistant, R"({"type":"tool-call","toolCallId":"a","toolName":"ls","input":{}})");
    PushAndWait(p, conv, Role::assistant, R"({"type":"tool-call","toolCallId":"b","toolName":"cat","input":{"f":"x"}})");
    PushAndWait(p, conv, Role::tool, R"({"type":"tool-result","toolCallId":"a","toolName":"ls","content":"ok","isError":false})");
    // The engine goes away with "b" unanswered (close does not reconcile).
  }
  const std::string interrupted_b =
      R"(tool {"type":"tool-result","toolCallId":"b","toolName":"cat","content":"interrupted: the tool-call got no result before the conversation was reopened or reconciled","isError":true})";
  {
    auto engine = OpenEngine(ConvOptions());
    Conversation conv = Open(*engine, "rec");  // reconciles
    auto lines = ChunksOf(Read("rec"));
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[3], interrupted_b);
    auto again = conv.reconcile();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->appended, 0u);
    EXPECT_EQ(again->lastSeq, 4u);
    // The answered call cannot be answered twice.
    Producer p(*engine);
    auto late = p.push_chunk(conv, Role::tool, R"({"type":"tool-result","toolCallId":"b","toolName":"cat","content":"late","isError":false})");
    EXPECT_EQ(late.status().code(), Errc::invalid_argument);
  }
  {
    auto engine = OpenEngine(ConvOptions());
    Conversation conv = Open(*engine, "rec");
    EXPECT_EQ(Read("rec").entries.size(), 4u) << "reopening reconciled again";
    Producer p(*engine);
    PushAndWait(p, conv, Role::assistant, R"({"type":"tool-call","toolCallId":"c","toolName":"rm","input":[]})");
  }
  // A crash: a line torn in the middle of being written after "c".
  {
    std::string file = conv_dir("rec") + "/chunks.jsonl";
    auto content = ReadFile(file);
    ASSERT_TRUE(content.has_value());
    ASSERT_TRUE(WriteFile(file, *content + R"({"seq":6,"role":"tool","chunk":{"type":"tool-result","toolCallId":"c")"));
  }
  for (int round = 0; round < 2; ++round) {
    auto engine = OpenEngine(ConvOptions());
    Conversation conv = Open(*engine, "rec");
    if (round == 0) {
      EXPECT_EQ(conv.repairs().size(), 1u);
    }
    auto lines = ChunksOf(Read("rec"));
    ASSERT_EQ(lines.size(), 6u) << "round " << round;
    EXPECT_NE(lines[5].find(R"("toolCallId":"c","toolName":"rm","content":"interrupted)"), std::string::npos);
    std::map<std::string, int> results;
    for (const auto& e : Read("rec").entries)
      if (e.chunk.find(R"("type":"tool-result")") != std::string::npos)
        ++results[std::string(e.chunk.substr(e.chunk.find("toolCallId") + 13, 1))];
    EXPECT_EQ(results, (std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}}));
  }
}

// A process killed after its tool-call was durable: the next opener answers it once.
TEST_F(ConversationTest, ReconcileAfterAProcessIsKilled) {
  const Options o = ConvOptions();
  ProcessResult child = RunInChild(
      [&] {
        auto engine = Engine::open(o);
        if (!engine.ok()) return 2;
        auto conv = engine.value()->open_conversation("killed");
        if (!conv.ok()) return 3;
        Producer p(*engine.value());
        auto t = p.push_chunk(conv.value(), Role::assistant, R"({"type":"tool-call","toolCallId":"z","toolName":"sleep","input":{"s":60}})");
        if (!t.ok() || !t->wait().ok()) return 4;
        _exit(0);  // no close, no destructor: as if killed
      },
      std::chrono::seconds(60));
  ASSERT_EQ(child.exit_code, 0) << child.describe();
  for (int round = 0; round < 2; ++round) {
    auto engine = OpenEngine(o);
    ASSERT_TRUE(Open(*engine, "killed"));
    auto lines = ChunksOf(Read("killed"));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1].substr(0, 44), R"(tool {"type":"tool-result","toolCallId":"z",)");
  }
}

// Events arrive as the contract shapes them, in order; turn-sealed only once
// every chunk of the turn is durable.
TEST_F(ConversationTest, TurnSealedNeverComesBeforeDurability) {
  auto engine = OpenEngine(ConvOptions());
  Conversation conv = Open(*engine, "turns");
  auto sub = conv.subscribe(1 << 16);
  ASSERT_TRUE(sub.ok());
  for (int turn = 0; turn < 20; ++turn) {
    const std::string id = "turn-" + std::to_string(turn);
    ASSERT_TRUE(conv.begin_turn(id).ok());
    std::uint64_t last = 0;
    std::thread pusher([&] {
      Producer p(*engine);
      for (int i = 0; i < 50; ++i) {
        auto t = p.push_chunk(conv, Role::assistant, i % 5 == 4 ? R"({"type":"thinking","text":"hm"})" : R"({"type":"text","text":"tok"})");
        ASSERT_TRUE(t.ok());
        last = t->seq();
      }
    });
    pusher.join();
    std::atomic<bool> sealed{false};
    std::thread ender([&] {
      ASSERT_TRUE(conv.emit(R"({"type":"usage","usage":{"inputTokens":3,"outputTokens":50}})").ok());
      ASSERT_TRUE(conv.end_turn(id, "stop").ok());
      sealed.store(true);
    });
    std::vector<std::string> events;
    for (;;) {
      auto item = sub.value()->next(std::chrono::seconds(30));
      ASSERT_TRUE(item.has_value()) << "no event within 30 s";
      ASSERT_EQ(item->kind, SubscriptionItem::Kind::event);
      events.push_back(item->json);
      if (item->json.find(R"({"type":"turn-sealed")") == 0) {
        EXPECT_GE(conv.durable_seq(), last) << "turn-sealed before the turn's chunks were durable";
        EXPECT_GE(Read("turns").entries.size(), last);
        break;
      }
    }
    ender.join();
    ASSERT_EQ(events.size(), 54u);
    EXPECT_EQ(events[0], R"({"type":"turn-start","conversationId":"turns","turnId":")" + id + "\"}");
    EXPECT_EQ(events[1], R"({"type":"text-delta","conversationId":"turns","turnId":")" + id + R"(","delta":"tok"})");
    EXPECT_EQ(events[5], R"({"type":"reasoning-delta","conversationId":"turns","turnId":")" + id + R"(","delta":"hm"})");
    EXPECT_EQ(events[51], R"({"type":"usage","conversationId":"turns","turnId":")" + id + R"(","usage":{"inputTokens":3,"outputTokens":50}})");
    EXPECT_EQ(events[52], R"({"type":"done","conversationId":"turns","turnId":")" + id + R"(","reason":"stop"})");
    EXPECT_EQ(events[53], R"({"type":"turn-sealed","conversationId":"turns","turnId":")" + id + "\"}");
  }
}

TEST_F(ConversationTest, ToolEventsCarryTheChunksFields) {
  auto engine = OpenEngine(ConvOptions());
  Conversation conv = Open(*engine, "tools");
  auto sub = conv.subscribe(64).value();
  ASSERT_TRUE(conv.begin_turn("t1").ok());
  Producer p(*engine);
  PushAndWait(p, conv, Role::assistant, R"({"type":"tool-call","toolCallId":"c1","toolName":"sh","input":{"a":[1]}})");
  ASSERT_TRUE(conv.emit(R"({"type":"tool-output","toolCallId":"c1","data":"hi\n","stream":"stdout"})").ok());
  PushAndWait(p, conv, Role::tool, R"({"type":"tool-result","toolCallId":"c1","toolName":"sh","content":"hi","isError":false})");
  PushAndWait(p, conv, Role::assistant, R"({"type":"error","message":"boom","code":"E1"})");
  const std::string head = R"("conversationId":"tools","turnId":"t1")";
  std::vector<std::string> want = {
      R"({"type":"turn-start",)" + head + "}",
      R"({"type":"tool-call",)" + head + R"(,"toolCallId":"c1","toolName":"sh","input":{"a":[1]}})",
      R"({"type":"tool-output",)" + head + R"(,"toolCallId":"c1","data":"hi\n","stream":"stdout"})",
      R"({"type":"tool-result",)" + head + R"(,"toolCallId":"c1","toolName":"sh","content":"hi","isError":false})",
      R"({"type":"error",)" + head + R"(,"message":"boom","code":"E1"})",
  };
  for (const auto& w : want) {
    auto item = sub->next();
    ASSERT_TRUE(item.has_value());
    EXPECT_EQ(item->json, w);
  }
  EXPECT_FALSE(conv.emit(R"({"type":"tool-output","toolCallId":"c1","data":"x","stream":"tty"})").ok());
  EXPECT_FALSE(conv.begin_turn("t2").ok()) << "a second turn while one is open";
  EXPECT_FALSE(conv.end_turn("t2").ok());
}

// A subscriber that never reads: pushes are not slowed or refused; it gets
// what fit, then one resync naming the last seq it was told of, and the log
// after that seq holds the rest.
TEST_F(ConversationTest, ASlowSubscriberIsToldToResync) {
  auto engine = OpenEngine(ConvOptions());
  Conversation conv = Open(*engine, "slow");
  auto sub = conv.subscribe(8).value();
  ASSERT_TRUE(conv.begin_turn("t").ok());
  Producer p(*engine);
  for (int i = 0; i < 500; ++i)
    ASSERT_TRUE(p.push_chunk(conv, Role::assistant, R"({"type":"text","text":")" + std::to_string(i) + "\"}").ok());
  ASSERT_TRUE(conv.end_turn("t").ok());
  std::vector<SubscriptionItem> items;
  while (auto item = sub->next()) items.push_back(*item);
  ASSERT_EQ(items.size(), 9u);  // turn-start, 7 deltas, resync
  EXPECT_EQ(items[7].seq, 7u);
  EXPECT_EQ(items[8].kind, SubscriptionItem::Kind::resync);
  EXPECT_EQ(items[8].seq, 7u);
  ConvRead rest = Read("slow", items[8].seq);
  ASSERT_EQ(rest.entries.size(), 493u);
  EXPECT_EQ(rest.entries.front().seq, 8u);
  // After the resync, new events flow again.
  ASSERT_TRUE(conv.begin_turn("t2").ok());
  auto next = sub->next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->json.find(R"({"type":"turn-start")"), 0u);
}

TEST_F(ConversationTest, MessagesViewGroupsConsecutiveChunksOfOneRole) {
  auto engine = OpenEngine(ConvOptions());
  Conversation conv = Open(*engine, "msgs");
  Producer p(*engine);
  PushAndWait(p, conv, Role::user, R"({"type":"text","text":"q"})");
  PushAndWait(p, conv, Role::assistant, R"({"type":"thinking","text":"t"})");
  PushAndWait(p, conv, Role::assistant, R"({"type":"text","text":"a"})");
  PushAndWait(p, conv, Role::user, R"({"type":"text","text":"q2"})");
  std::string out;
  out = Read("msgs").messages;
  EXPECT_EQ(out,
            "{\"role\":\"user\",\"chunks\":[{\"type\":\"text\",\"text\":\"q\"}]}\n"
            "{\"role\":\"assistant\",\"chunks\":[{\"type\":\"thinking\",\"text\":\"t\"},{\"type\":\"text\",\"text\":\"a\"}]}\n"
            "{\"role\":\"user\",\"chunks\":[{\"type\":\"text\",\"text\":\"q2\"}]}\n");
}

TEST_F(ConversationTest, OpeningRefusesBadIdsAndASecondWriter) {
  auto engine = OpenEngine(ConvOptions());
  EXPECT_EQ(engine->open_conversation("../x").status().code(), Errc::invalid_argument);
  EXPECT_EQ(engine->open_conversation("").status().code(), Errc::invalid_argument);
  Conversation a = Open(*engine, "dup");
  Conversation b = Open(*engine, "dup");
  EXPECT_EQ(a.id(), b.id());
  // Another engine (as another process would) is refused while this one writes.
  auto other = OpenEngine(ConvOptions());
  EXPECT_EQ(other->open_conversation("dup").status().code(), Errc::refused);
  ASSERT_TRUE(a.close().ok());
  Producer p(*engine);
  auto closed = p.push_chunk(a, Role::user, R"({"type":"text","text":"x"})");
  EXPECT_EQ(closed.status().code(), Errc::closed);
  EXPECT_EQ(closed.status().message(), "conversation dup is closed");
}

// A failed fsync fail-stops that conversation only, with the OS error and the
// path; reopening re-checks it from disk and it goes on gap-free.
TEST_F(ConversationTest, AFailedSyncFailStopsOneConversationAndOthersGoOn) {
  auto fs = std::make_shared<FaultFs>();
  Options o = ConvOptions();
  o.fs = fs;
  o.syncfsFiles = 0;  // one fdatasync per file: the fault strikes the one file
  {
    auto engine = OpenEngine(o);
    Conversation bad = Open(*engine, "bad");
    Conversation good = Open(*engine, "good");
    Producer p(*engine);
    PushAndWait(p, bad, Role::user, R"({"type":"text","text":"before"})");
    fs->Fail(FaultFs::Op::datasync, "/bad/chunks.jsonl", EIO);
    auto t = p.push_chunk(bad, Role::user, R"({"type":"text","text":"lost"})");
    ASSERT_TRUE(t.ok());
    auto w = t->wait();
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), Errc::io_error);
    EXPECT_EQ(w.status().sys_errno(), EIO);
    EXPECT_NE(w.status().message().find("bad/chunks.jsonl"), std::string::npos) << w.status().message();
    EXPECT_FALSE(bad.health().ok());
    EXPECT_FALSE(p.push_chunk(bad, Role::user, R"({"type":"text","text":"refused"})").ok());
    EXPECT_EQ(PushAndWait(p, good, Role::user, R"({"type":"text","text":"fine"})"), 1u);
    EXPECT_EQ(bad.durable_seq(), 1u);
    (void)bad.close();
  }
  fs->Clear();
  auto engine = OpenEngine(o);
  Conversation bad = Open(*engine, "bad");
  Producer p(*engine);
  const std::uint64_t next = PushAndWait(p, bad, Role::user, R"({"type":"text","text":"after"})");
  ConvRead read = Read("bad");
  ASSERT_EQ(read.entries.size(), next);
  for (std::size_t i = 0; i < read.entries.size(); ++i) EXPECT_EQ(read.entries[i].seq, i + 1);
  EXPECT_EQ(read.entries.front().chunk, R"({"type":"text","text":"before"})");
  EXPECT_EQ(read.entries.back().chunk, R"({"type":"text","text":"after"})");
}

}  // namespace
}  // namespace runlog::testing
