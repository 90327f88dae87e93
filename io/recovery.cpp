// io/recovery.cpp — the merge of a stream's files and recovery at open (see
// io/recovery.h); the scanner and the decision are io/scanner.cpp.
#include "io/recovery.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "core/lifecycle.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

std::string_view base_name(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// A read-only File over bytes, for plan_recovery_bytes().
class BytesFile final : public File {
 public:
  BytesFile(std::string_view bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}
  Status pwritev(const struct iovec*, int, std::uint64_t) override { return read_only(); }
  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    *got = 0;
    if (offset >= bytes_.size()) return Status::OK();
    *got = std::min<std::uint64_t>(n, bytes_.size() - offset);
    std::memcpy(buf, bytes_.data() + offset, *got);
    return Status::OK();
  }
  Status datasync() override { return read_only(); }
  Status truncate(std::uint64_t) override { return read_only(); }
  Result<std::uint64_t> size() override { return static_cast<std::uint64_t>(bytes_.size()); }
  const std::string& path() const override { return name_; }

 private:
  Status read_only() const { return Status::Invalid(name_ + ": read-only bytes"); }
  std::string_view bytes_;
  std::string name_;
};

}  // namespace

// ---------------------------------------------------------------------------
// The merge

Result<RecoveryPlan> plan_recovery(std::span<File* const> files, std::uint64_t floor, const RecordVisitor& visit,
                                   std::size_t chunk_bytes) {
  struct Cursor {
    std::unique_ptr<ChannelScanner> scanner;
    ScannedRecord head;
    bool has = false;
  };
  std::vector<Cursor> cur(files.size());
  std::vector<ChannelScan> scans(files.size());  // what the decision needs of each file
  for (std::size_t i = 0; i < files.size(); ++i) {
    cur[i].scanner = std::make_unique<ChannelScanner>(*files[i], chunk_bytes);
    RUNLOG_RETURN_IF_ERROR(cur[i].scanner->next(&cur[i].head, &cur[i].has));
  }

  // k-way: take seq `expected` from whichever file holds it next.
  std::uint64_t n = 0;
  for (;;) {
    const std::uint64_t expected = n + 1;
    std::size_t found = files.size();
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (!cur[i].has || cur[i].head.seq != expected) continue;
      if (found != files.size()) {
        return Status::Corruption(at_offset(*files[i], cur[i].head.offset) + "seq " + std::to_string(expected) +
                                  " repeats (also in " + files[found]->path() + " at offset " +
                                  std::to_string(cur[found].head.offset) + ")");
      }
      found = i;
    }
    if (found == files.size()) break;
    if (visit) RUNLOG_RETURN_IF_ERROR(visit(found, cur[found].head));
    ++scans[found].records;
    if (cur[found].head.foreign) ++scans[found].foreign;
    n = expected;
    RUNLOG_RETURN_IF_ERROR(cur[found].scanner->next(&cur[found].head, &cur[found].has));
    if (n == std::numeric_limits<std::uint64_t>::max()) break;
  }

  // Each file's records past N are still read, to find corruption anywhere.
  std::vector<std::string> paths(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    Cursor& c = cur[i];
    ChannelScan& sc = scans[i];
    if (c.has) {
      sc.past = true;
      sc.past_seq = c.head.seq;
      sc.past_offset = c.head.offset;
      ScannedRecord r;
      bool more = true;
      while (more) RUNLOG_RETURN_IF_ERROR(c.scanner->next(&r, &more));
    }
    sc.size = c.scanner->size();
    sc.valid_end = c.scanner->valid_end();
    sc.torn_what = c.scanner->torn_what();
    paths[i] = files[i]->path();
  }
  return decide(scans, paths, n, floor);
}

Result<std::uint64_t> read_floor(Dir& dir, File* durable_seq) {
  std::uint64_t w = 0;
  if (durable_seq != nullptr) {
    DurableMark mark;
    RUNLOG_RETURN_IF_ERROR(read_durable_mark(*durable_seq).get(mark));
    w = mark.seq.value_or(0);
  }
  std::string text;
  Status st = read_file(dir, "state.json").get(text);
  if (st.ok()) {
    if (Result<RunStateSnapshot> state = state_from_json(text); state.ok()) w = std::max(w, state->lastEventSeq);
  } else if (st.code() != Errc::not_found) {
    return st;
  }
  return w;
}

Result<RecoveryPlan> plan_stream_read_only(Dir& dir, std::span<const std::string_view> channel_names) {
  std::vector<std::unique_ptr<File>> owned;
  std::vector<File*> files;
  for (std::string_view name : channel_names) {
    std::unique_ptr<File> f;
    Status st = dir.open_file(name, OpenMode::read_only, 0).get(f);
    if (st.code() == Errc::not_found) continue;
    RUNLOG_RETURN_IF_ERROR(st);
    files.push_back(f.get());
    owned.push_back(std::move(f));
  }
  std::unique_ptr<File> durable;
  if (Status st = dir.open_file("durable.seq", OpenMode::read_only, 0).get(durable);
      !st.ok() && st.code() != Errc::not_found)
    return st;
  std::uint64_t floor = 0;
  RUNLOG_RETURN_IF_ERROR(read_floor(dir, durable.get()).get(floor));
  return plan_recovery(files, floor);
}

Result<RecoveryPlan> plan_recovery_bytes(std::span<const std::string_view> contents, std::size_t chunk_bytes,
                                         std::uint64_t floor) {
  std::vector<std::unique_ptr<File>> owned;
  std::vector<File*> files;
  for (std::size_t i = 0; i < contents.size(); ++i) {
    owned.push_back(std::make_unique<BytesFile>(contents[i], "file" + std::to_string(i)));
    files.push_back(owned.back().get());
  }
  return plan_recovery(files, floor, {}, chunk_bytes);
}

std::string describe_cut(std::string_view file_name, const ChannelCut& cut, std::uint64_t last_seq) {
  std::string s(file_name);
  s += ": cut ";
  s += std::to_string(cut.size - cut.keep);
  s += " bytes at offset ";
  s += std::to_string(cut.keep);
  if (cut.reason == CutReason::past_hole) {
    s += " (past a hole at seq ";
    s += std::to_string(last_seq + 1);
    s += ")";
  } else {
    s += " (torn tail)";
  }
  return s;
}

Status apply_recovery_plan(std::span<File* const> files, const RecoveryPlan& plan,
                           std::vector<std::string>* repairs) {
  if (files.size() != plan.channels.size())
    return Status::Invalid("apply_recovery_plan: the plan is for " + std::to_string(plan.channels.size()) +
                           " files, not " + std::to_string(files.size()));
  for (std::size_t i = 0; i < files.size(); ++i) {
    const ChannelCut& cut = plan.channels[i];
    const bool cut_it = cut.keep < cut.size;
    if (cut_it) RUNLOG_RETURN_IF_ERROR(files[i]->truncate(cut.keep));
    // Synced even when nothing was cut: after a process kill the records
    // 1..N may still be only in the page cache, and N is about to be
    // declared durable. An empty file that was never cut holds nothing.
    if (cut_it || cut.keep > 0) RUNLOG_RETURN_IF_ERROR(files[i]->datasync());
    if (cut_it && repairs) repairs->push_back(describe_cut(base_name(files[i]->path()), cut, plan.last_seq));
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// LifecycleReplay

struct LifecycleReplay::Impl {
  simdjson::dom::parser parser;
};

LifecycleReplay::LifecycleReplay() : impl_(std::make_unique<Impl>()) {}
LifecycleReplay::~LifecycleReplay() = default;

Status LifecycleReplay::apply(std::string_view line, RunStateSnapshot* state) {
  simdjson::dom::element doc;
  if (auto err = impl_->parser.parse(line.data(), line.size()).get(doc))
    return Status::Invalid(std::string("not JSON: ") + simdjson::error_message(err));
  std::uint64_t seq = 0;
  if (doc["seq"].get_uint64().get(seq)) return Status::Invalid("field \"seq\": missing or not an integer");
  std::string_view type_name, created_at;
  if (doc["type"].get_string().get(type_name)) return Status::Invalid("field \"type\": missing or not a string");
  if (doc["createdAt"].get_string().get(created_at))
    return Status::Invalid("field \"createdAt\": missing or not a string");

  RunStateSnapshot& s = *state;
  if (std::optional<EventType> type = parse_event_type(type_name)) {
    std::optional<std::int64_t> exit_code;
    std::int64_t code = 0;
    if (*type == EventType::worker_exited && !doc["data"]["exitCode"].get_int64().get(code)) exit_code = code;
    apply_lifecycle_event(&s, *type, exit_code, created_at);
  } else {
    s.updatedAt = std::string(created_at);  // unknown event types change only updatedAt and lastEventSeq
  }
  s.lastEventSeq = seq;
  return Status::OK();
}

}  // namespace runlog::io
