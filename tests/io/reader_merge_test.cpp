// tests/io/reader_merge_test.cpp — io/reader.h on runs the real engine wrote:
// the k-way merge by seq, every field as the files have it (checked against
// the independent parser of tests/support), the summary, many runs on two
// threads in a stable order, and find_sources. Every test runs with the
// default buffers and with tiny ones (4 KiB reads, 4 KiB batches), so lines
// longer than the batch and than the buffer take the growing paths.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/reader.h"
#include "runlog/engine.h"
#include "support/engine_fixture.h"
#include "support/run_files.h"
#include "support/reader_support.h"

namespace runlog::testing {
namespace {

struct Got {
  std::uint64_t seq = 0;
  Channel channel = Channel::worker;
  std::string line, jsonl, created;
};

// Every entry of every source under `path`.
Status ReadAll(const std::string& path, std::vector<Got>* out, const io::ReadFilter& filter = {},
               const io::ReaderOptions& options = {}) {
  std::vector<io::Source> sources;
  RUNLOG_RETURN_IF_ERROR(io::find_sources(path).get(sources));
  io::LogReader reader(options);
  for (const io::Source& s : sources) {
    RUNLOG_RETURN_IF_ERROR(reader.open(s, filter));
    const io::Entry* e = nullptr;
    Status st;
    while ((st = reader.next(&e)).ok() && e) {
      Got g;
      g.seq = e->seq();
      g.channel = e->channel();
      g.line = std::string(e->line());
      io::append_jsonl(*e, reader.context(), &g.jsonl);
      g.created = std::string(e->created_at());
      out->push_back(std::move(g));
    }
    RUNLOG_RETURN_IF_ERROR(st);
  }
  return Status::OK();
}

class ReaderMergeTest : public EngineTestBase, public ::testing::WithParamInterface<bool> {
 protected:
  io::ReaderOptions Options() const { return GetParam() ? Tiny() : io::ReaderOptions{}; }
};

// A run with all three channels interleaved at random, pushed by one producer
// (so push order is seq order); returns the channel of every seq.
std::vector<Channel> WriteMixedRun(Engine& engine, const Run& run, int records, std::uint64_t seed,
                                   std::size_t big_every = 0) {
  Producer p(engine);
  std::mt19937_64 rng(seed);
  std::vector<Channel> channels;
  for (int i = 0; i < records; ++i) {
    const unsigned pick = static_cast<unsigned>(rng() % 10);
    std::string text = "line " + std::to_string(i) + " \"quoted\" \\ tab\t end\n";
    if (big_every && i % static_cast<int>(big_every) == 7) text = std::string(20000 + i, 'x') + "\n";
    if (pick < 6) {
      EXPECT_TRUE(p.push_stdout(run, text).ok());
      channels.push_back(Channel::stdout_);
    } else if (pick < 9) {
      EXPECT_TRUE(p.push_stderr(run, text).ok());
      channels.push_back(Channel::stderr_);
    } else {
      LifecycleEvent e;
      e.type = EventType::worker_started;
      e.level = LogLevel::info;
      e.message = "event " + std::to_string(i) + " \"with\" escapes \\";
      e.dataJson = "{\"i\":" + std::to_string(i) + ",\"nested\":{\"a\":[1,2,{\"b\":null}]},\"s\":\"x\\\"y\"}";
      EXPECT_TRUE(p.push_event(run, e).ok());
      channels.push_back(Channel::worker);
    }
  }
  return channels;
}

TEST_P(ReaderMergeTest, MergesTheChannelsInSeqOrder) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "r");
  std::vector<Channel> pushed = WriteMixedRun(*engine, run, 3000, 7, 97);
  ASSERT_TRUE(run.close().ok());
  std::vector<Got> got;
  ASSERT_TRUE(ReadAll(run_dir("t", "r"), &got, {}, Options()).ok());
  ASSERT_EQ(got.size(), pushed.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].seq, i + 1);
    ASSERT_EQ(got[i].channel, pushed[i]) << "seq " << i + 1;
  }
}

TEST_P(ReaderMergeTest, EveryFieldIsWhatTheFileHolds) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "r");
  WriteMixedRun(*engine, run, 500, 11, 50);
  {
    Producer p(*engine);  // invalid UTF-8: a chunk with "bytes"
    ASSERT_TRUE(p.push_stdout(run, std::string("bad \xff\xfe bytes\n")).ok());
  }
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("t", "r");
  std::vector<Record> records = ParseRun(dir);
  std::map<std::uint64_t, Record> by_seq;
  for (Record& r : records) by_seq[r.seq] = r;

  std::vector<io::Source> sources;
  ASSERT_TRUE(io::find_sources(dir).get(sources).ok());
  ASSERT_EQ(sources.size(), 1u);
  io::LogReader reader(Options());
  ASSERT_TRUE(reader.open(sources[0]).ok());
  const io::Entry* e = nullptr;
  std::size_t n = 0;
  while (reader.next(&e).ok() && e) {
    ++n;
    const Record& r = by_seq.at(e->seq());
    std::string line = r.line.substr(0, r.line.size() - 1);
    EXPECT_EQ(e->line(), line);
    EXPECT_EQ(channel_name(e->channel()), r.channel);
    EXPECT_TRUE(e->own_format());
    EXPECT_EQ(e->created_at(), r.createdAt);
    EXPECT_EQ(e->raw(io::Field::crc), "\"" + r.crc + "\"");
    std::string text;
    if (r.channel == "worker") {
      EXPECT_EQ(e->raw(io::Field::data), r.data);
      ASSERT_TRUE(io::append_unescaped(e->raw(io::Field::message), &text));
      EXPECT_EQ(text, r.message);
      EXPECT_EQ(e->raw(io::Field::type), "\"" + r.type + "\"");
      EXPECT_FALSE(e->has(io::Field::text));
    } else {
      ASSERT_TRUE(io::append_unescaped(e->raw(io::Field::text), &text));
      EXPECT_EQ(text, r.text);
      EXPECT_EQ(e->has(io::Field::bytes), r.bytes.has_value());
      if (r.bytes) {
        EXPECT_EQ(e->raw(io::Field::bytes), "\"" + *r.bytes + "\"");
      }
      std::string raw;
      ASSERT_TRUE(io::append_raw(*e, &raw).ok());
      EXPECT_EQ(raw, r.raw);
    }
    EXPECT_EQ(e->offset() + e->size_on_disk() <= ReadFile(e->file_path())->size(), true);
    EXPECT_EQ(ReadFile(e->file_path())->substr(e->offset(), e->line().size()), e->line());
  }
  EXPECT_EQ(n, records.size());
}

TEST_P(ReaderMergeTest, SummaryMatchesTheFiles) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "r");
  std::vector<Channel> pushed = WriteMixedRun(*engine, run, 1234, 3);
  {
    Producer p(*engine);
    LifecycleEvent done{EventType::step_completed, LogLevel::info, "done", ""};
    ASSERT_TRUE(p.push_event(run, done).ok());
    pushed.push_back(Channel::worker);
  }
  ASSERT_TRUE(run.close().ok());
  const std::string dir = run_dir("t", "r");
  io::LogReader reader(Options());
  io::Source src;
  src.dir = dir;
  auto s = io::summarize(reader, src);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  std::uint64_t counts[3] = {0, 0, 0};
  for (Channel c : pushed) ++counts[static_cast<int>(c)];
  EXPECT_EQ(s->counts.totalEntries, pushed.size());
  EXPECT_EQ(s->counts.lastSeq, pushed.size());
  EXPECT_EQ(s->counts.lifecycleEventCount, counts[0]);
  EXPECT_EQ(s->counts.stdoutChunkCount, counts[1]);
  EXPECT_EQ(s->counts.stderrChunkCount, counts[2]);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(s->bytes[c], ReadFile(dir + "/" + kChannelFiles[c])->size()) << c;
  std::vector<Record> records = ParseRun(dir);
  std::string first, last;
  for (const Record& r : records) {
    if (r.seq == 1) first = r.createdAt;
    if (r.seq == pushed.size()) last = r.createdAt;
  }
  EXPECT_EQ(s->first_created_at, first);
  EXPECT_EQ(s->last_created_at, last);

  const io::RunContext& ctx = reader.context();
  EXPECT_FALSE(ctx.live);
  EXPECT_EQ(ctx.durable_seq, pushed.size());
  EXPECT_EQ(ctx.status, RunStatus::completed);
  EXPECT_EQ(ctx.meta_json + "\n", *ReadFile(dir + "/meta.json"));
  EXPECT_EQ(ctx.state_json + "\n", *ReadFile(dir + "/state.json"));

  // The JSON line `runlog summary` prints parses, with the summary's numbers.
  std::string json = io::summary_json(s.value(), ctx);
  simdjson::dom::parser parser;
  simdjson::dom::element el;
  ASSERT_FALSE(parser.parse(json).get(el)) << json;
  EXPECT_EQ(std::uint64_t(el["totalEntries"]), pushed.size());
  EXPECT_EQ(std::uint64_t(el["bytes"]["stdout"]), s->bytes[1]);
  EXPECT_EQ(std::string_view(el["meta"]["taskId"]), "t");
  EXPECT_EQ(std::string_view(el["state"]["status"]), "completed");
  EXPECT_EQ(std::string_view(el["firstCreatedAt"]), first);
}

TEST_P(ReaderMergeTest, EmptyRunHasNoEntriesAndANullSummary) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "empty");
  ASSERT_TRUE(run.close().ok());
  std::vector<Got> got;
  ASSERT_TRUE(ReadAll(run_dir("t", "empty"), &got, {}, Options()).ok());
  EXPECT_TRUE(got.empty());
  io::LogReader reader(Options());
  io::Source src;
  src.dir = run_dir("t", "empty");
  auto s = io::summarize(reader, src);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->counts.totalEntries, 0u);
  std::string json = io::summary_json(s.value(), reader.context());
  EXPECT_NE(json.find("\"firstCreatedAt\":null,\"lastCreatedAt\":null"), std::string::npos) << json;
}

// Several runs: stable order (task, then run), each run in seq order, the
// same bytes on one thread and on two, and both threads at work.
TEST_P(ReaderMergeTest, ManyRunsInAStableOrderOnTwoThreads) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  const std::vector<std::pair<std::string, std::string>> ids = {
      {"b-task", "r2"}, {"a-task", "r9"}, {"b-task", "r1"}, {"a-task", "r10"}, {"c", "only"}};
  int k = 0;
  for (auto& [task, id] : ids) {
    runlog::Run run = OpenRun(*engine, task, id);
    WriteMixedRun(*engine, run, 200 + 50 * k, static_cast<std::uint64_t>(k), 40);
    ASSERT_TRUE(run.close().ok());
    ++k;
  }
  std::vector<io::Source> sources;
  ASSERT_TRUE(io::find_sources(root()).get(sources).ok());
  std::vector<std::string> names;
  for (auto& s : sources) names.push_back(s.dir.substr(root().size() + 1));
  EXPECT_EQ(names, (std::vector<std::string>{"a-task/r10", "a-task/r9", "b-task/r1", "b-task/r2", "c/only"}));

  auto run_all = [&](unsigned threads, std::set<std::thread::id>* used) {
    std::string all;
    std::mutex mu;
    io::OrderedSink sink;
    sink.write = [&](std::string_view b) {
      all.append(b);
      return Status::OK();
    };
    sink.done = [&](std::size_t, const Status& st) { EXPECT_TRUE(st.ok()) << st.to_string(); };
    Status st = io::run_ordered(
        sources.size(), threads, Options(),
        [&](std::size_t i, io::LogReader& reader, io::ChunkWriter& out) {
          {
            std::lock_guard<std::mutex> lk(mu);
            used->insert(std::this_thread::get_id());
          }
          RUNLOG_RETURN_IF_ERROR(reader.open(sources[i]));
          const io::Entry* e = nullptr;
          Status s;
          while ((s = reader.next(&e)).ok() && e) {
            io::append_jsonl(*e, reader.context(), &out.buffer());
            RUNLOG_RETURN_IF_ERROR(out.flush_if_full(300));  // many small hand-overs
            std::this_thread::yield();
          }
          return s;
        },
        sink, 4096);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return all;
  };
  std::set<std::thread::id> one, two;
  const std::string a = run_all(1, &one);
  const std::string b = run_all(2, &two);
  EXPECT_EQ(a, b);
  EXPECT_EQ(one.size(), 1u);
  EXPECT_EQ(two.size(), 2u) << "the runs were not spread over two threads";
  // In order: runs as sorted, seqs 1.. within each.
  std::vector<Got> expect;
  for (auto& s : sources) ASSERT_TRUE(ReadAll(s.dir, &expect).ok());
  std::string joined;
  for (auto& g : expect) joined += g.jsonl;
  EXPECT_EQ(a, joined);
}

TEST_P(ReaderMergeTest, OneChannelFileAloneReadsAsAFile) {
  auto engine = OpenEngine(MakeOptions(Durability::none));
  runlog::Run run = OpenRun(*engine, "t", "r");
  std::vector<Channel> pushed = WriteMixedRun(*engine, run, 400, 5);
  ASSERT_TRUE(run.close().ok());
  std::vector<Got> got;
  ASSERT_TRUE(ReadAll(run_dir("t", "r") + "/stderr.jsonl", &got, {}, Options()).ok());
  std::vector<std::uint64_t> want;
  for (std::size_t i = 0; i < pushed.size(); ++i)
    if (pushed[i] == Channel::stderr_) want.push_back(i + 1);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq, want[i]);
    // The folder's meta.json still gives the context.
    EXPECT_EQ(got[i].jsonl.rfind("{\"taskId\":\"t\",\"stepId\":\"step-1\",\"runId\":\"r\",\"seq\":", 0), 0u)
        << got[i].jsonl;
  }
}

INSTANTIATE_TEST_SUITE_P(Buffers, ReaderMergeTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Tiny" : "Default"; });

TEST(ReaderSourcesTest, FindsFilesRunsTaskFoldersAndRoots) {
  TempDir tmp("runlog-reader");
  const std::string root = tmp / "runs";
  for (const char* p : {"runs", "runs/t1", "runs/t1/r1", "runs/t1/r2", "runs/t2", "runs/t2/r0", "runs/t3",
                        "runs/t3/not-a-run"}) {
    ASSERT_EQ(::mkdir((tmp / p).c_str(), 0700), 0);
  }
  ASSERT_TRUE(WriteFile(tmp / "runs/t1/r1/stdout.jsonl", ""));
  ASSERT_TRUE(WriteFile(tmp / "runs/t1/r2/meta.json", "{}"));
  ASSERT_TRUE(WriteFile(tmp / "runs/t2/r0/durable.seq", "00000000000000000000\n"));
  ASSERT_EQ(::symlink((tmp / "runs/t1/r1").c_str(), (tmp / "runs/t2/linked").c_str()), 0);

  auto dirs = [&](const std::string& path) {
    std::vector<io::Source> s;
    EXPECT_TRUE(io::find_sources(path).get(s).ok());
    std::vector<std::string> out;
    for (auto& x : s) out.push_back((x.kind == io::SourceKind::file ? "file:" : "run:") + x.path().substr(tmp.path().size()));
    return out;
  };
  EXPECT_EQ(dirs(root), (std::vector<std::string>{"run:/runs/t1/r1", "run:/runs/t1/r2", "run:/runs/t2/r0"}));
  EXPECT_EQ(dirs(tmp / "runs/t1"), (std::vector<std::string>{"run:/runs/t1/r1", "run:/runs/t1/r2"}));
  EXPECT_EQ(dirs(tmp / "runs/t1/r2"), (std::vector<std::string>{"run:/runs/t1/r2"}));
  EXPECT_EQ(dirs(tmp / "runs/t1/r1/stdout.jsonl"), (std::vector<std::string>{"file:/runs/t1/r1/stdout.jsonl"}));
  std::vector<io::Source> s;
  Status st = io::find_sources(tmp / "nope").get(s);
  EXPECT_EQ(st.code(), Errc::not_found) << st.to_string();
}

}  // namespace
}  // namespace runlog::testing
