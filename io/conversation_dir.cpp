// io/conversation_dir.cpp — see io/conversation_dir.h.
#include "io/conversation_dir.h"

#include <simdjson.h>

#include <algorithm>

#include "core/ids.h"
#include "io/recovery.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

// Tracks tool-calls and their results over the lines of chunks.jsonl.
class ToolCalls {
 public:
  Status apply(std::string_view line, const std::string& where) {
    padded_.assign(line);
    padded_.resize(line.size() + simdjson::SIMDJSON_PADDING, '\0');
    simdjson::dom::element doc;
    std::string_view type;
    if (parser_.parse(padded_.data(), line.size(), false).get(doc) || doc["chunk"]["type"].get_string().get(type))
      return Status::Corruption(where + ": not a StoredChunk line (no chunk.type)");
    if (type != "tool-call" && type != "tool-result") return Status::OK();
    std::string_view call_id, name;
    if (doc["chunk"]["toolCallId"].get_string().get(call_id) || doc["chunk"]["toolName"].get_string().get(name))
      return Status::Corruption(where + ": " + std::string(type) + " without toolCallId/toolName");
    auto found = std::find_if(open.begin(), open.end(), [&](const auto& c) { return c.first == call_id; });
    if (type == "tool-call") {
      if (found == open.end()) open.emplace_back(std::string(call_id), std::string(name));
    } else if (found != open.end()) {
      open.erase(found);
    }
    return Status::OK();
  }
  std::vector<std::pair<std::string, std::string>> open;

 private:
  simdjson::dom::parser parser_;
  std::string padded_;
};

}  // namespace

Status reopen_conversation_files(Dir& root, std::string_view id, RunFiles* files) {
  RUNLOG_RETURN_IF_ERROR(validate_id("conversationId", id));
  RunFiles f;
  RUNLOG_RETURN_IF_ERROR(root.open_dir(id, false, 0).get(f.dir));
  RUNLOG_RETURN_IF_ERROR(f.dir->open_file(kChunksFileName, OpenMode::read_write, 0).get(f.channel[0]));
  f.durable_seq = std::move(files->durable_seq);
  *files = std::move(f);
  return Status::OK();
}

Result<RecoveredConversation> open_conversation_dir(Dir& root, std::string_view id, const LayoutOptions& opts,
                                                    RunFiles* files) {
  RUNLOG_RETURN_IF_ERROR(validate_id("conversationId", id));
  RecoveredConversation out;
  RunFiles f;
  RUNLOG_RETURN_IF_ERROR(root.open_dir(id, true, opts.dir_mode, &out.created).get(f.dir));
  Dir& dir = *f.dir;
  RUNLOG_RETURN_IF_ERROR(dir.open_file(kChunksFileName, OpenMode::create, opts.file_mode).get(f.channel[0]));
  RUNLOG_RETURN_IF_ERROR(dir.open_file(kDurableFile, OpenMode::create, opts.file_mode).get(f.durable_seq));
  RUNLOG_RETURN_IF_ERROR(lock_writer(*f.durable_seq, "conversation"));

  File& chunks = *f.channel[0];
  File* channels[1] = {&chunks};
  ToolCalls calls;
  std::string line;
  auto visit = [&](std::size_t, const ScannedRecord& rec) -> Status {
    line.resize(rec.length);
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(chunks.pread(line.data(), line.size(), rec.offset, &got));
    if (got != line.size())
      return Status(Errc::io_error, 0, chunks.path() + ": file shrank during recovery");
    return calls.apply(std::string_view(line).substr(0, line.size() - 1),
                       chunks.path() + ":" + std::to_string(rec.offset));
  };
  std::uint64_t floor = 0;
  RUNLOG_RETURN_IF_ERROR(read_floor(dir, f.durable_seq.get()).get(floor));
  RecoveryPlan plan;
  RUNLOG_RETURN_IF_ERROR(plan_recovery(channels, floor, visit).get(plan));
  RUNLOG_RETURN_IF_ERROR(apply_recovery_plan(channels, plan, &out.repairs));
  RUNLOG_RETURN_IF_ERROR(dir.sync());
  RUNLOG_RETURN_IF_ERROR(root.sync());

  const std::uint64_t n = plan.last_seq;
  char buf[64];
  std::size_t got = 0;
  RUNLOG_RETURN_IF_ERROR(f.durable_seq->pread(buf, sizeof buf, 0, &got));
  if (parse_durable_seq(std::string_view(buf, got)) != n) {
    RUNLOG_RETURN_IF_ERROR(write_durable_seq(*f.durable_seq, n, &f.durable_written));
    if (got > 21) RUNLOG_RETURN_IF_ERROR(f.durable_seq->truncate(21));
  }
  out.last_seq = n;
  out.size = plan.channels[0].keep;
  out.open_tool_calls = std::move(calls.open);
  *files = std::move(f);
  return out;
}

}  // namespace runlog::io
