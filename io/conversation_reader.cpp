// io/conversation_reader.cpp — see io/conversation_reader.h.
#include "io/conversation_reader.h"

#include <fmt/format.h>

#include "io/recovery.h"
#include "io/run_dir.h"

namespace runlog::io {
namespace {

constexpr std::string_view kChunks = "chunks.jsonl";
constexpr std::string_view kRolePrefix = R"("role":")";
constexpr std::string_view kChunkKey = R"(","chunk":)";

// Takes a valid own line (check_line said so; '\n' included) apart by position.
bool split_line(std::string_view line, StoredEntry* e) {
  const std::size_t seq_end = line.find(',');
  if (seq_end == std::string_view::npos) return false;
  std::string_view rest = line.substr(seq_end + 1);
  if (rest.substr(0, kRolePrefix.size()) != kRolePrefix) return false;
  rest.remove_prefix(kRolePrefix.size());
  const std::size_t role_end = rest.find('"');
  if (role_end == std::string_view::npos || rest.substr(role_end, kChunkKey.size()) != kChunkKey) return false;
  e->role = rest.substr(0, role_end);
  std::string_view chunk = rest.substr(role_end + kChunkKey.size());
  if (chunk.size() < kCrcSuffixBytes + 2 || chunk.front() != '{') return false;
  e->chunk = chunk.substr(0, chunk.size() - kCrcSuffixBytes);
  return e->chunk.back() == '}';
}

}  // namespace

bool is_conversation_dir(const std::string& path, Fs* fs) {
  std::shared_ptr<Fs> owned;
  if (fs == nullptr) fs = (owned = posix_fs()).get();
  auto dir = fs->open_root(path, false, 0);
  if (!dir.ok()) return false;
  auto has = dir.value()->exists(kChunks);
  if (!has.ok() || !has.value()) return false;
  // A folder that holds a run's files too is no conversation: find_sources()
  // names it as an error instead of hiding the run.
  for (const char* run_file : {"meta.json", "state.json", "worker.jsonl", "stdout.jsonl", "stderr.jsonl"}) {
    auto also = dir.value()->exists(run_file);
    if (!also.ok() || also.value()) return false;
  }
  return true;
}

Result<ConversationRead> read_conversation(const std::string& path, std::uint64_t after, Fs* fs) {
  std::shared_ptr<Fs> owned;
  if (fs == nullptr) fs = (owned = posix_fs()).get();
  std::unique_ptr<Dir> dir;
  RUNLOG_RETURN_IF_ERROR(fs->open_root(path, false, 0).get(dir));
  ConversationRead out;
  // The watermark and the lock first: a line written after this look is
  // beyond the durable seq it read, so it is never served early.
  std::unique_ptr<File> durable;
  if (Status st = dir->open_file("durable.seq", OpenMode::read_only, 0).get(durable); st.ok()) {
    out.has_durable_file = true;
    bool locked = false;
    RUNLOG_RETURN_IF_ERROR(durable->locked_by_other().get(locked));
    out.live = locked;
    char buf[64];
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(durable->pread(buf, sizeof buf, 0, &got));
    if (auto v = parse_durable_seq(std::string_view(buf, got))) out.durable_seq = *v;
    else if (out.live) out.notes.push_back("durable.seq is unreadable: nothing served while the writer is live");
  } else if (st.code() != Errc::not_found) {
    return st;
  }
  std::unique_ptr<File> file;
  RUNLOG_RETURN_IF_ERROR(dir->open_file(kChunks, OpenMode::read_only, 0).get(file));
  // Recovery's verdict first (io/recovery.h, with the floor): the reader
  // gives the same answer on the same bytes as opening the conversation.
  {
    std::uint64_t floor = 0;
    RUNLOG_RETURN_IF_ERROR(read_floor(*dir, durable.get()).get(floor));
    File* files[1] = {file.get()};
    RecoveryPlan plan;
    RUNLOG_RETURN_IF_ERROR(plan_recovery(files, floor).get(plan));
  }
  std::uint64_t size = 0;
  RUNLOG_RETURN_IF_ERROR(file->size().get(size));
  out.data.resize(size);
  std::size_t have = 0;
  while (have < size) {
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(file->pread(out.data.data() + have, size - have, have, &got));
    if (got == 0) break;
    have += got;
  }
  out.data.resize(have);
  const std::uint64_t cap = out.live ? out.durable_seq : UINT64_MAX;
  const std::string where = dir->path() + "/" + std::string(kChunks);
  std::string_view all(out.data);
  std::uint64_t expect = 1;
  std::size_t pos = 0;
  std::size_t damaged_at = std::string_view::npos;
  const char* damaged_what = "";
  bool stopped = false;
  while (pos < all.size()) {
    std::size_t nl = all.find('\n', pos);
    std::string_view line = all.substr(pos, nl == std::string_view::npos ? all.size() - pos : nl - pos + 1);
    const LineVerdict v = check_line(line);
    if (!v.valid) {
      if (damaged_at == std::string_view::npos) {
        damaged_at = pos;
        damaged_what = v.what;
      }
    } else if (damaged_at != std::string_view::npos) {
      return Status::Corruption(fmt::format("{}:{}: {} (with valid records after it)", where, damaged_at, damaged_what));
    } else if (!stopped) {
      if (v.seq != expect) {
        if (v.seq < expect)
          return Status::Corruption(fmt::format("{}:{}: seq {} repeats or goes back (expected {})", where, pos, v.seq, expect));
        out.notes.push_back(fmt::format("stopped at seq {}: seq {} is missing (what lies past a hole was never acknowledged)",
                                        expect - 1, expect));
        stopped = true;
      } else if (v.seq > cap) {
        stopped = true;  // live: not durable yet
      } else {
        ++expect;
        out.last_seq = v.seq;
        if (v.seq > after) {
          StoredEntry e;
          e.seq = v.seq;
          if (!split_line(line, &e))
            return Status::Corruption(fmt::format("{}:{}: not a StoredChunk line", where, pos));
          out.entries.push_back(e);
        }
      }
    }
    pos += line.size();
  }
  if (damaged_at != std::string_view::npos)
    out.notes.push_back(fmt::format("{}: ignored a torn tail of {} bytes at offset {} ({})", kChunks,
                                    all.size() - damaged_at, damaged_at, damaged_what));
  return out;
}

void append_stored(const StoredEntry& e, std::string* out) {
  *out += fmt::format(R"({{"seq":{},"role":"{}","chunk":)", e.seq, e.role);
  *out += e.chunk;
  *out += "}\n";
}

void append_messages(const std::vector<StoredEntry>& entries, std::string* out) {
  for (std::size_t i = 0; i < entries.size();) {
    std::size_t j = i;
    *out += R"({"role":")";
    *out += entries[i].role;
    *out += R"(","chunks":[)";
    for (; j < entries.size() && entries[j].role == entries[i].role; ++j) {
      if (j > i) *out += ',';
      *out += entries[j].chunk;
    }
    *out += "]}\n";
    i = j;
  }
}

}  // namespace runlog::io
