// tools/cmd_summary.cpp — `runlog summary`: one JSON object per run, its
// LocalRunLogSummary with meta.json, state.json, bytes and first/last times.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "io/reader.h"
#include "io/conversation_reader.h"
#include "tools/chat.h"
#include "tools/command.h"
#include "tools/run_output.h"
#include "tools/views.h"

namespace runlog::tools {
namespace {

constexpr const char* kSummaryHelp = R"(runlog summary — count a run's entries and show its metadata and state

Usage: runlog summary PATH

PATH is a run folder (<runsRoot>/<taskId>/<runId>), a task folder, a runs root
(one line per run, in order of task then run, read on all cores), or one .jsonl
file.

Prints one JSON object per run, on one line:
  totalEntries, lastSeq, lifecycleEventCount, stdoutChunkCount, stderrChunkCount
                   the contract's LocalRunLogSummary, of the entries 1..lastSeq
  firstCreatedAt, lastCreatedAt
                   createdAt of the first and last entry (null when none)
  bytes            {"worker":N,"stdout":N,"stderr":N}: bytes of those entries'
                   lines in each channel file
  live             whether a writer holds the run open (then everything counts
                   up to durable.seq only)
  durableSeq       the seq in durable.seq (null when the file is missing)
  meta, state      meta.json and state.json as they are (null when missing)

PATH may also be a conversation folder (<conversationsRoot>/<id>), or a
conversations root (one line per conversation, by id). A conversation's line:
conversationId, totalEntries, lastSeq, roles and types (counts of chunks),
openToolCalls (tool-calls without a tool-result), live and durableSeq.

Options:
  -h, --help       this help

Exit status: 0 success, 1 a run could not be read (damage with valid records
after it, an I/O error: file and byte offset on stderr), 2 bad usage.
)";

int cmd_summary(Args& args) {
  if (args.flag("-h") || args.flag("--help")) {
    std::fputs(kSummaryHelp, stdout);
    return 0;
  }
  if (!args.ok()) return usage_error("summary", args.error());
  std::vector<std::string> rest = args.rest();
  for (const std::string& r : rest) {
    if (r.size() > 1 && r[0] == '-') return usage_error("summary", fmt::format("unknown option '{}'", r));
  }
  if (rest.empty()) return usage_error("summary", "which run? give PATH (a run folder, a runs root or a .jsonl file)");
  if (rest.size() > 1) return usage_error("summary", fmt::format("unexpected argument '{}'", rest[1]));
  if (io::is_conversation_dir(rest[0])) return summarize_conversation(rest[0]);
  if (std::vector<std::string> convs = conversations_below(rest[0]); !convs.empty()) {  // a conversations root
    int status = 0;
    for (const std::string& c : convs) status = std::max(status, summarize_conversation(c));
    return status;
  }

  std::vector<io::Source> sources;
  if (Status st = io::find_sources(rest[0]).get(sources); !st.ok()) {
    fmt::print(stderr, "runlog summary: {}\n", st.to_string());
    return 1;
  }
  if (sources.empty()) {
    fmt::print(stderr, "runlog summary: no runs under {}\n", rest[0]);
    return 1;
  }
  RunOutput output("summary", sources.size());
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  Status st = io::run_ordered(sources.size(), threads, {}, [&](std::size_t i, io::LogReader& reader, io::ChunkWriter& out) {
    Status s = append_summary_line(reader, sources[i], &out.buffer());
    output.notes[i] = reader.notes();
    return s;
  }, output.sink);
  return output.finish(st);
}

}  // namespace

RUNLOG_COMMAND("summary", "count a run's entries (LocalRunLogSummary) with its meta, state and bytes", cmd_summary, 30);

}  // namespace runlog::tools
