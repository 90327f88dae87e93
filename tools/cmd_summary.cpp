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
#include "tools/chat.h"
#include "tools/command.h"
#include "tools/run_output.h"
#include "tools/views.h"

namespace runlog::tools {
namespace {

constexpr const char* kSummaryFooter = R"HELP(Prints one JSON object per run, on one line:
  totalEntries, lastSeq, lifecycleEventCount, stdoutChunkCount, stderrChunkCount
                   the contract's LocalRunLogSummary, of the entries 1..lastSeq
  firstCreatedAt, lastCreatedAt
                   createdAt of the first and last entry (null when none)
  bytes            {"worker":N,"stdout":N,"stderr":N}: bytes of those entries'
                   lines in each channel file
  live             whether a writer holds the run open (then everything counts
                   up to durable.seq only)
  abandoned        no writer holds the run, yet state.json says prepared or
                   running: its runner is gone ("running (abandoned)" in ls)
  durableSeq       the seq in durable.seq (null when the file is missing)
  meta, state      meta.json and state.json as they are (null when missing)

PATH may also be a conversation folder (<conversationsRoot>/<id>), or a
conversations root (one line per conversation, by id). A conversation's line:
conversationId, totalEntries, lastSeq, roles and types (counts of chunks),
openToolCalls (tool-calls without a tool-result), live and durableSeq.

)HELP";

int run_summary(const std::string& path) {
  if (io::is_conversation_dir(path)) return summarize_conversation(path);
  if (std::vector<std::string> convs = conversations_below(path); !convs.empty()) {  // a conversations root
    int status = 0;
    for (const std::string& c : convs) status = std::max(status, summarize_conversation(c));
    return status;
  }

  std::vector<io::Source> sources;
  if (Status st = io::find_sources(path).get(sources); !st.ok()) {
    fmt::print(stderr, "runlog summary: {}\n", st.to_string());
    return kExitFailed;
  }
  if (sources.empty()) {
    fmt::print(stderr, "runlog summary: no runs under {}\n", path);
    return kExitFailed;
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

Runner setup_summary(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  app.add_option("PATH", *path,
                 "a run folder (<runsRoot>/<taskId>/<runId>), a task folder, a runs\n"
                 "root (one line per run, in order of task then run, read on all\n"
                 "cores), or one .jsonl file")
      ->type_name("")
      ->required()
      ->check(existing_path());
  app.footer(std::string(kSummaryFooter) +
             exit_status_footer("success", "a run could not be read (damage with valid records after it, an I/O "
                                           "error: file and byte offset on stderr)"));
  return [path] { return run_summary(*path); };
}

}  // namespace

RUNLOG_COMMAND("summary", "count a run's entries (LocalRunLogSummary) with its meta, state and bytes", setup_summary,
               30);

}  // namespace runlog::tools
