// io/journal.cpp — see io/journal.h.
#include "io/journal.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <utility>

#include "core/crc32c.h"

namespace runlog::io {
namespace {

constexpr std::size_t kFrameHeader = 8;   // u32 length, u32 crc
constexpr std::size_t kBodyHeader = 10;   // u64 offset, u16 path length
constexpr std::string_view kJournalSuffix = ".wal";

void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::uint64_t get_le(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string new_journal_name() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{}", rd(), rd(), kJournalSuffix);
}

bool is_journal_name(std::string_view n) {
  return n.size() > kJournalSuffix.size() && n.substr(n.size() - kJournalSuffix.size()) == kJournalSuffix &&
         n.front() != '.';
}

// Splits "a/b/c" into its components; empty when the path is not three of them.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t at = 0;
  while (at <= path.size()) {
    std::size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    parts.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  if (parts.size() != 3) parts.clear();
  return parts;
}

// Writes each whole frame of `data` at its offset where the file differs;
// stops at the first frame that is short, zero or fails its CRC.
Status redo(Dir& root, std::string_view data, std::size_t* frames) {
  std::size_t at = 0;
  std::string have;
  while (data.size() - at >= kFrameHeader) {
    const auto len = static_cast<std::size_t>(get_le(data.data() + at, 4));
    const auto crc = static_cast<std::uint32_t>(get_le(data.data() + at + 4, 4));
    if (len < kBodyHeader || len > data.size() - at - kFrameHeader) break;
    const char* body = data.data() + at + kFrameHeader;
    if (crc32c(body, len) != crc) break;
    const std::uint64_t offset = get_le(body, 8);
    const auto path_len = static_cast<std::size_t>(get_le(body + 8, 2));
    if (path_len > len - kBodyHeader) break;
    const std::string_view path(body + kBodyHeader, path_len);
    const std::string_view bytes(body + kBodyHeader + path_len, len - kBodyHeader - path_len);
    at += kFrameHeader + len;
    ++*frames;
    // The file must be where the frame says; a run removed since is skipped
    // (nothing is ever created here).
    const auto parts = split_path(path);
    if (parts.empty()) continue;
    std::unique_ptr<Dir> task, run;
    std::unique_ptr<File> f;
    if (!root.open_dir(parts[0], false, 0).get(task).ok() || !task->open_dir(parts[1], false, 0).get(run).ok())
      continue;
    Status st = run->open_file(parts[2], OpenMode::read_write, 0).get(f);
    if (st.code() == Errc::not_found) continue;
    RUNLOG_RETURN_IF_ERROR(st);
    have.resize(bytes.size());
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(f->pread(have.data(), have.size(), offset, &got));
    if (got == bytes.size() && std::memcmp(have.data(), bytes.data(), got) == 0) continue;
    RUNLOG_RETURN_IF_ERROR(f->pwrite(bytes.data(), bytes.size(), offset));
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::open(Dir& runs_root, const LayoutOptions& layout) {
  bool created = false;
  std::unique_ptr<Dir> dir;
  RUNLOG_RETURN_IF_ERROR(runs_root.open_dir(kJournalDir, true, layout.dir_mode, &created).get(dir));
  if (created) RUNLOG_RETURN_IF_ERROR(runs_root.sync());
  std::unique_ptr<Journal> j(new Journal(std::move(dir), layout));
  RUNLOG_RETURN_IF_ERROR(j->start_part());
  return j;
}

Journal::~Journal() = default;

// A new file, locked, its entry synced: frames appended to it are durable
// once it is fdatasync-ed. It is made under a name no finisher looks at and
// renamed once locked: a finisher must never take it for a stopped writer's
// journal in the moment between its creation and its lock.
Status Journal::start_part() {
  Part p;
  p.name = new_journal_name();
  const std::string temp = "." + p.name;  // finishers skip dot names
  std::unique_ptr<File> f;
  {
    std::lock_guard<std::mutex> dir_lock(dir_mu_);
    RUNLOG_RETURN_IF_ERROR(dir_->open_file(temp, OpenMode::create_new, layout_.file_mode).get(f));
    Status st = f->lock_exclusive();
    if (st.ok()) st = dir_->rename(temp, p.name);
    if (!st.ok()) {
      (void)dir_->remove(temp);
      return st;
    }
    RUNLOG_RETURN_IF_ERROR(dir_->sync());
  }
  p.file = std::move(f);
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(p);
  end_ = 0;
  return Status::OK();
}

void Journal::add(const std::string& path, std::uint64_t offset, const struct iovec* iov, int iovcnt) {
  std::size_t bytes = 0;
  for (int i = 0; i < iovcnt; ++i) bytes += iov[i].iov_len;
  const std::size_t len = kBodyHeader + path.size() + bytes;
  const std::size_t at = buf_.size();
  buf_.resize(at + kFrameHeader + len);
  char* p = buf_.data() + at;
  char* body = p + kFrameHeader;
  put_u64(body, offset);
  body[8] = static_cast<char>(path.size() & 0xFF);
  body[9] = static_cast<char>((path.size() >> 8) & 0xFF);
  std::memcpy(body + kBodyHeader, path.data(), path.size());
  char* out = body + kBodyHeader + path.size();
  for (int i = 0; i < iovcnt; ++i) {
    std::memcpy(out, iov[i].iov_base, iov[i].iov_len);
    out += iov[i].iov_len;
  }
  put_u32(p, static_cast<std::uint32_t>(len));
  put_u32(p + 4, crc32c(body, len));
}

Status Journal::write() {
  if (buf_.empty()) return Status::OK();
  Status st = current_.file->pwrite(buf_.data(), buf_.size(), end_);
  if (st.ok()) {
    end_ += buf_.size();
    since_checkpoint_.fetch_add(buf_.size(), std::memory_order_relaxed);
  }
  buf_.clear();  // keeps its capacity
  return st;
}

Status Journal::sync() {
  std::vector<Part> parts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    parts.swap(unsynced_);
    parts.push_back(current_);
  }
  for (const Part& p : parts) {
    // Named by its name, not the one it was made under.
    if (Status st = p.file->datasync(); !st.ok())
      return Status(st.code(), st.sys_errno(),
                    fmt::format("fdatasync of the journal {}/{}: {}", dir_path_, p.name, std::strerror(st.sys_errno())));
  }
  return Status::OK();
}

Status Journal::rotate() {
  Part old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = current_;
  }
  RUNLOG_RETURN_IF_ERROR(start_part());
  std::lock_guard<std::mutex> lock(mu_);
  unsynced_.push_back(old);
  retired_.push_back(std::move(old));
  return Status::OK();
}

bool Journal::checkpoint_due() const {
  if (since_checkpoint_.load(std::memory_order_relaxed) >= interval_) return true;
  std::lock_guard<std::mutex> lock(mu_);
  return !retired_.empty();
}

Status Journal::checkpoint() {
  std::vector<Part> parts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    parts = retired_;
  }
  since_checkpoint_.store(0, std::memory_order_relaxed);
  std::lock_guard<std::mutex> dir_lock(dir_mu_);
  RUNLOG_RETURN_IF_ERROR(dir_->sync_filesystem());
  if (parts.empty()) return Status::OK();
  for (const Part& p : parts) RUNLOG_RETURN_IF_ERROR(dir_->remove(p.name));
  {
    std::lock_guard<std::mutex> lock(mu_);
    retired_.erase(retired_.begin(), retired_.begin() + static_cast<std::ptrdiff_t>(parts.size()));
  }
  // Synced, so that a removed journal cannot come back after a power loss
  // and be finished over a run that was removed and made again since.
  return dir_->sync();
}

Status Journal::close() {
  RUNLOG_RETURN_IF_ERROR(write());
  std::lock_guard<std::mutex> dir_lock(dir_mu_);
  RUNLOG_RETURN_IF_ERROR(dir_->sync_filesystem());
  std::lock_guard<std::mutex> lock(mu_);
  for (const Part& p : retired_) RUNLOG_RETURN_IF_ERROR(dir_->remove(p.name));
  retired_.clear();
  RUNLOG_RETURN_IF_ERROR(dir_->remove(current_.name));
  return dir_->sync();
}

Status finish_journals(Dir& runs_root, std::vector<std::string>* finished) {
  std::unique_ptr<Dir> dir;
  Status st = runs_root.open_dir(kJournalDir, false, 0).get(dir);
  if (st.code() == Errc::not_found) return Status::OK();
  RUNLOG_RETURN_IF_ERROR(st);
  std::vector<std::string> names;
  RUNLOG_RETURN_IF_ERROR(dir->list().get(names));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!is_journal_name(name)) continue;
    std::unique_ptr<File> f;
    // A live writer's journal is left alone; telling needs no write access
    // (a reader may have none), finishing does.
    st = dir->open_file(name, OpenMode::read_only, 0).get(f);
    if (st.code() == Errc::not_found) continue;  // finished by someone else meanwhile
    RUNLOG_RETURN_IF_ERROR(st);
    bool live = false;
    RUNLOG_RETURN_IF_ERROR(f->locked_by_other().get(live));
    if (live) continue;
    st = dir->open_file(name, OpenMode::read_write, 0).get(f);
    if (st.code() == Errc::not_found) continue;
    if (!st.ok())
      return Status(st.code(), st.sys_errno(),
                    fmt::format("{}/{}/{} holds acknowledged records of a writer that stopped, and cannot be "
                                "finished: {}",
                                runs_root.path(), kJournalDir, name, st.message()));
    st = f->lock_exclusive();
    if (st.code() == Errc::refused) continue;  // its writer lives
    RUNLOG_RETURN_IF_ERROR(st);
    bool still_there = false;  // another finisher may have removed it before we locked
    RUNLOG_RETURN_IF_ERROR(dir->exists(name).get(still_there));
    if (!still_there) continue;
    std::uint64_t size = 0;
    RUNLOG_RETURN_IF_ERROR(f->size().get(size));
    std::string data(static_cast<std::size_t>(size), '\0');
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(f->pread(data.data(), data.size(), 0, &got));
    data.resize(got);
    std::size_t frames = 0;
    if (st = redo(runs_root, data, &frames); !st.ok())
      return Status(st.code(), st.sys_errno(),
                    fmt::format("finishing the journal {}/{}/{}: {}", runs_root.path(), kJournalDir, name, st.message()));
    // Bytes that were already there may be only in the page cache (the
    // writer was killed, the machine did not stop): one syncfs makes every
    // frame's file durable before the journal goes.
    RUNLOG_RETURN_IF_ERROR(runs_root.sync_filesystem());
    RUNLOG_RETURN_IF_ERROR(dir->remove(name));
    RUNLOG_RETURN_IF_ERROR(dir->sync());
    if (finished != nullptr)
      finished->push_back(fmt::format("finished the journal {}/{}/{} ({} frames)", runs_root.path(), kJournalDir, name, frames));
  }
  return Status::OK();
}

Status finish_journals_above(Fs& fs, const std::string& path) {
  std::string p = path;
  for (int up = 0; up < 3; ++up, p += "/..") {
    std::unique_ptr<Dir> dir;
    if (!fs.open_root(p, false, 0).get(dir).ok()) continue;
    bool has = false;
    if (!dir->exists(kJournalDir).get(has).ok() || !has) continue;
    RUNLOG_RETURN_IF_ERROR(finish_journals(*dir));
  }
  return Status::OK();
}

}  // namespace runlog::io
