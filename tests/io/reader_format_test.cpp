// tests/io/reader_format_test.cpp — what entries become: the contract's exact
// shape (key sets and order, parsed back), the terminal's text and the
// original bytes (invalid UTF-8, characters split across pushes, chunks over
// the record limit), visible control characters, and JSON string unescaping.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <random>
#include <string>
#include <vector>

#include "io/reader.h"
#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/run_files.h"

namespace runlog::testing {
namespace {

const std::vector<std::string> kWorkerKeys = {"taskId", "stepId",    "runId",   "seq",  "channel",     "eventId", "type",
                                              "level",  "createdAt", "message", "data", "renderedLine"};
const std::vector<std::string> kStreamKeys = {"taskId", "stepId", "runId", "seq", "channel", "createdAt", "text"};

struct Out {
  std::string jsonl, text, raw_stdout, raw_all;
  std::vector<std::pair<Channel, std::string>> texts;  // per entry
};

Out ReadRun(const std::string& dir, bool visible = false) {
  Out o;
  io::LogReader reader;
  io::Source src;
  src.dir = dir;
  EXPECT_TRUE(reader.open(src).ok());
  const io::Entry* e = nullptr;
  Status st;
  while ((st = reader.next(&e)).ok() && e) {
    io::append_jsonl(*e, reader.context(), &o.jsonl);
    std::string t;
    EXPECT_TRUE(io::append_text(*e, visible, &t).ok());
    o.text += t;
    o.texts.emplace_back(e->channel(), t);
    std::string raw;
    EXPECT_TRUE(io::append_raw(*e, &raw).ok());
    o.raw_all += raw;
    if (e->channel() == Channel::stdout_) o.raw_stdout += raw;
  }
  EXPECT_TRUE(st.ok()) << st.to_string();
  return o;
}

class ReaderFormatTest : public EngineTestBase {};

// Every jsonl line parses, and its keys are exactly the contract's, in order.
TEST_F(ReaderFormatTest, JsonlHasTheContractsKeysInOrder) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "task-1", "run-1");
  {
    Producer p(*engine);
    for (int i = 0; i < 9; ++i) {
      LifecycleEvent e{static_cast<EventType>(i), static_cast<LogLevel>(i % 4), "m" + std::to_string(i),
                       i % 2 ? "{\"a\":{\"b\":[1,\"\\u0000\"]}}" : ""};
      ASSERT_TRUE(p.push_event(run, e).ok());
      ASSERT_TRUE(p.push_stdout(run, "out\n").ok());
      ASSERT_TRUE(p.push_stderr(run, std::string("err \xff\n")).ok());  // with "bytes" on disk
    }
  }
  ASSERT_TRUE(run.close().ok());
  Out o = ReadRun(run_dir("task-1", "run-1"));
  simdjson::ondemand::parser parser;
  simdjson::padded_string ps(o.jsonl);
  simdjson::ondemand::document_stream docs;
  ASSERT_FALSE(parser.iterate_many(ps).get(docs));
  std::uint64_t seq = 0;
  for (auto doc : docs) {
    simdjson::ondemand::object obj;
    ASSERT_FALSE(doc.get_object().get(obj));
    std::vector<std::string> keys;
    std::string channel;
    for (auto field : obj) {
      std::string_view k;
      ASSERT_FALSE(field.unescaped_key().get(k));
      keys.emplace_back(k);
      if (k == "channel") {
        std::string_view c;
        ASSERT_FALSE(field.value().get_string().get(c));
        channel = std::string(c);
      } else if (k == "seq") {
        std::uint64_t s = 0;
        ASSERT_FALSE(field.value().get_uint64().get(s));
        EXPECT_EQ(s, ++seq);
      } else if (k == "taskId") {
        std::string_view t;
        ASSERT_FALSE(field.value().get_string().get(t));
        EXPECT_EQ(t, "task-1");
      }
    }
    EXPECT_EQ(keys, channel == "worker" ? kWorkerKeys : kStreamKeys) << channel;
  }
  EXPECT_EQ(seq, 27u);
}

// Raw replay gives back every byte pushed; text replay is what a terminal
// decoding the stream as UTF-8 (as Node does) showed.
TEST_F(ReaderFormatTest, RawIsTheBytesPushedAndTextIsWhatTheTerminalShowed) {
  Options opts = MakeOptions(Durability::none);
  opts.recordLimit = 1024;  // some pushes become several records
  auto engine = OpenEngine(opts);
  runlog::Run run = OpenRun(*engine, "t", "bytes");
  std::string pushed;
  {
    Producer p(*engine);
    std::mt19937_64 rng(17);
    const std::vector<std::string> pieces = {"plain ascii\n", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                             "\xff", "\xc3", "\x80\x80", "\xed\xa0\x80", "\x1b[31mred\x1b[0m",
                                             "\r\n", "\t", std::string("\0", 1), "\xe2\x82", "\xf4\x90\x80\x80"};
    for (int i = 0; i < 400; ++i) {
      std::string chunk;
      const int n = 1 + static_cast<int>(rng() % 12);
      for (int k = 0; k < n; ++k) chunk += pieces[rng() % pieces.size()];
      if (i % 50 == 0) chunk += std::string(3000, 'z') + "\xe2\x82\xac";  // over the record limit
      // Split anywhere, even inside a character.
      const std::size_t cut = rng() % (chunk.size() + 1);
      ASSERT_TRUE(p.push_stdout(run, chunk.substr(0, cut)).ok());
      ASSERT_TRUE(p.push_stdout(run, chunk.substr(cut)).ok());
      pushed += chunk;
    }
  }
  ASSERT_TRUE(run.close().ok());
  Out o = ReadRun(run_dir("t", "bytes"));
  EXPECT_EQ(o.raw_stdout.size(), pushed.size());
  EXPECT_TRUE(o.raw_stdout == pushed) << "raw replay differs from the bytes pushed";
  EXPECT_TRUE(o.text == WhatwgDecode(pushed)) << "text replay differs from a WHATWG decoding of the bytes";
  // And text is, record by record, the files' "text".
  std::string from_files;
  for (const Record& r : ParseFile(run_dir("t", "bytes"), "stdout.jsonl")) from_files += r.text;
  EXPECT_TRUE(o.text == from_files);
}

TEST_F(ReaderFormatTest, TextOfLifecycleEntriesIsTheirRenderedLine) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "r");
  {
    Producer p(*engine);
    ASSERT_TRUE(p.push_stdout(run, "partial line without newline").ok());
    LifecycleEvent e{EventType::worker_exited, LogLevel::warn, "exit \"3\"", "{\"exitCode\":3}"};
    ASSERT_TRUE(p.push_event(run, e).ok());
  }
  ASSERT_TRUE(run.close().ok());
  Out o = ReadRun(run_dir("t", "r"));
  ASSERT_EQ(o.texts.size(), 2u);
  EXPECT_EQ(o.texts[0].second, "partial line without newline");
  const std::vector<Record> w = ParseFile(run_dir("t", "r"), "worker.jsonl");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(o.texts[1].second, w[0].renderedLine + "\n");
  EXPECT_NE(w[0].renderedLine.find("warn worker_exited: exit \"3\""), std::string::npos);
  EXPECT_EQ(o.raw_all, "partial line without newline");  // lifecycle entries have no bytes
}

// On a terminal, control characters other than \n and \t are shown, not sent.
TEST(ReaderVisibleTest, ControlCharactersAreMadeVisible) {
  TempDir tmp("runlog-visible");
  ASSERT_TRUE(WriteFile(tmp / "log.jsonl",
                        R"({"seq":1,"channel":"stdout","createdAt":"2026-01-01T00:00:00.000Z","text":"\u001b[31mred\u001b[0m\r\n\ttab \u0007bell \u007f del \u009b csi \u00e9 ok\u0000"})"
                        "\n"
                        R"({"seq":2,"channel":"worker","eventId":"e","type":"worker_started","level":"info","createdAt":"2026-01-01T00:00:00.000Z","message":"m","data":{},"renderedLine":"esc \u001b here"})"
                        "\n"));
  io::LogReader reader;
  std::vector<io::Source> s;
  ASSERT_TRUE(io::find_sources(tmp / "log.jsonl").get(s).ok());
  ASSERT_TRUE(reader.open(s[0]).ok());
  const io::Entry* e = nullptr;
  ASSERT_TRUE(reader.next(&e).ok() && e);
  std::string shown, sent;
  ASSERT_TRUE(io::append_text(*e, true, &shown).ok());
  ASSERT_TRUE(io::append_text(*e, false, &sent).ok());
  EXPECT_EQ(shown, "^[[31mred^[[0m^M\n\ttab ^Gbell ^? del M-^[ csi \xc3\xa9 ok^@");
  EXPECT_EQ(sent, std::string("\x1b[31mred\x1b[0m\r\n\ttab \x07" "bell \x7f del \xc2\x9b csi \xc3\xa9 ok\0", 44));
  ASSERT_TRUE(reader.next(&e).ok() && e);
  shown.clear();
  ASSERT_TRUE(io::append_text(*e, true, &shown).ok());
  EXPECT_EQ(shown, "esc ^[ here\n");
}

TEST(ReaderUnescapeTest, JsonStrings) {
  auto un = [](std::string_view tok) {
    std::string out;
    return io::append_unescaped(tok, &out) ? out : std::string("<bad>");
  };
  EXPECT_EQ(un(R"("")"), "");
  EXPECT_EQ(un(R"("plain")"), "plain");
  EXPECT_EQ(un(R"("a\"b\\c\/d\b\f\n\r\t")"), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(un(R"("\u0041\u00e9\u20ac")"), "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(un(R"("\ud83d\ude00")"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(un(R"("\ud83d x")"), "\xef\xbf\xbd x");     // lone high surrogate
  EXPECT_EQ(un(R"("\ude00")"), "\xef\xbf\xbd");         // lone low surrogate
  EXPECT_EQ(un(R"("\u00")"), "<bad>");
  EXPECT_EQ(un(R"("\x")"), "<bad>");
  EXPECT_EQ(un(R"("abc\")"), "<bad>");
  EXPECT_EQ(un("abc"), "<bad>");
  EXPECT_EQ(un(R"("\u0000")"), std::string("\0", 1));
}

}  // namespace
}  // namespace runlog::testing
