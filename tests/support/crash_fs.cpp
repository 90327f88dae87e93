// tests/support/crash_fs.cpp — see crash_fs.h.
#include "support/crash_fs.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <random>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace runlog::testing {

struct CrashFs::Node {
  bool is_dir = false;
  // A file: the bytes on disk, the bytes a reader sees now, and the
  // operations between the two (a write: off + bytes; a truncate: size).
  struct PendingOp {
    bool truncate = false;
    std::uint64_t offset = 0;  ///< write offset, or truncate size
    std::string bytes;
  };
  std::string disk, now;
  std::vector<PendingOp> pending;
  const void* lock_owner = nullptr;
  bool wb_error = false;  ///< a failed syncfs dropped writes: the next datasync reports it
  // A folder: entries now and as of its last sync().
  std::map<std::string, std::shared_ptr<Node>> entries, synced;
};

struct CrashFs::State {
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Node>> roots;
  std::uint64_t ops = 0;
  std::uint64_t power_off_at = 0;  ///< 0: never
  bool powered_off = false;
  std::uint64_t failures = 0;
  std::uint64_t failed_syncs = 0;
  std::vector<Fault> faults;
};

namespace {

using Node = CrashFs::Node;

void apply_op(std::string* s, const Node::PendingOp& op) {
  if (op.truncate) {
    s->resize(op.offset, '\0');
    return;
  }
  const std::size_t end = op.offset + op.bytes.size();
  if (s->size() < end) s->resize(end, '\0');
  s->replace(op.offset, op.bytes.size(), op.bytes);
}

std::string join(const std::string& dir, std::string_view name) {
  std::string p = dir;
  if (p.empty() || p.back() != '/') p += '/';
  p += name;
  return p;
}

// What a power loss leaves of one file.
std::string damaged_file(const Node& n, std::mt19937_64& rng) {
  if (n.pending.empty()) return n.disk;
  std::string s = n.disk;
  switch (rng() % 5) {
    case 0: return s;      // nothing unsynced reached the disk
    case 1: return n.now;  // all of it did (the page cache had been written back)
    default: break;
  }
  // A prefix of the operations, the last one torn at a random byte.
  const std::size_t k = rng() % n.pending.size();
  for (std::size_t i = 0; i < k; ++i) apply_op(&s, n.pending[i]);
  Node::PendingOp torn = n.pending[k];
  if (!torn.truncate) torn.bytes.resize(rng() % (torn.bytes.size() + 1));
  apply_op(&s, torn);
  // The size the lost writes gave the file may have reached the disk without
  // their data: zeros or garbage up to it.
  if (n.now.size() > s.size()) {
    switch (rng() % 3) {
      case 0: break;
      case 1: s.resize(n.now.size(), '\0'); break;
      default: {
        const std::size_t from = s.size();
        s.resize(n.now.size());
        for (std::size_t i = from; i < s.size(); ++i) s[i] = static_cast<char>(rng() & 0xff);
      }
    }
  }
  return s;
}

struct Imager {
  std::mt19937_64 rng;
  bool damage = true;
  bool worst = false;  ///< every unsynced byte and entry lost
  std::unordered_map<const Node*, std::shared_ptr<Node>> done;

  std::shared_ptr<Node> image(const std::shared_ptr<Node>& n) {
    if (auto it = done.find(n.get()); it != done.end()) return it->second;
    auto out = std::make_shared<Node>();
    done.emplace(n.get(), out);
    out->is_dir = n->is_dir;
    if (!n->is_dir) {
      out->disk = !damage ? n->now : worst ? n->disk : damaged_file(*n, rng);
      out->now = out->disk;
      return out;
    }
    std::map<std::string, std::shared_ptr<Node>> chosen;
    if (!damage) {
      chosen = n->entries;
    } else {
      const unsigned mode = worst ? 0 : rng() % 3;  // 0: as synced, 1: as now, 2: entry by entry
      std::map<std::string, std::pair<std::shared_ptr<Node>, std::shared_ptr<Node>>> names;
      for (const auto& [name, node] : n->synced) names[name].first = node;
      for (const auto& [name, node] : n->entries) names[name].second = node;
      for (const auto& [name, pair] : names) {
        const auto& [old_node, new_node] = pair;
        bool take_new = old_node == new_node || mode == 1 || (mode == 2 && (rng() & 1));
        const std::shared_ptr<Node>& pick = take_new ? new_node : old_node;
        if (pick) chosen[name] = pick;
      }
    }
    for (const auto& [name, node] : chosen) out->entries[name] = image(node);
    out->synced = out->entries;
    return out;
  }
};

// Takes the lock; the counted-operation gate.
class Gate {
 public:
  Gate(CrashFs::State& st, unsigned kind) : lock_(st.mu) {
    st.ops++;
    if (st.powered_off || (st.power_off_at != 0 && st.ops >= st.power_off_at)) {
      st.powered_off = true;
      err_ = EIO;
      power_ = true;
    } else {
      for (const CrashFs::Fault& f : st.faults) {
        if ((f.ops & kind) == 0) continue;
        if (!(st.ops == f.at || (f.sticky && st.ops >= f.at))) continue;
        switch (f.kind) {
          case CrashFs::FaultKind::eio: err_ = EIO; break;
          case CrashFs::FaultKind::enospc: err_ = ENOSPC; break;
          case CrashFs::FaultKind::eintr: err_ = EINTR; break;
          case CrashFs::FaultKind::short_write:
            err_ = ENOSPC;
            short_ = kind == CrashFs::kWrite;
            break;
        }
        break;
      }
    }
    if (err_ != 0) {
      st.failures++;
      if ((kind == CrashFs::kDatasync || kind == CrashFs::kSyncfs) && !power_) st.failed_syncs++;
    }
  }
  int err() const { return err_; }
  bool power() const { return power_; }
  bool short_write() const { return short_; }

 private:
  std::lock_guard<std::mutex> lock_;
  int err_ = 0;
  bool power_ = false;
  bool short_ = false;
};

class MemFile final : public io::File {
 public:
  MemFile(std::shared_ptr<CrashFs::State> st, std::shared_ptr<Node> n, std::string path)
      : st_(std::move(st)), n_(std::move(n)), path_(std::move(path)) {}
  ~MemFile() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    if (n_->lock_owner == this) n_->lock_owner = nullptr;
  }

  Status pwritev(const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    std::string bytes;
    for (int i = 0; i < iovcnt; ++i) bytes.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    Gate g(*st_, CrashFs::kWrite);
    if (g.err() != 0 && !g.short_write())
      return Status::FromErrno(g.err(), "write " + path_ + " at offset " + std::to_string(offset));
    if (g.short_write()) bytes.resize(bytes.size() / 2);
    Node::PendingOp op{false, offset, std::move(bytes)};
    apply_op(&n_->now, op);
    n_->pending.push_back(std::move(op));
    if (g.short_write())
      return Status::FromErrno(ENOSPC, "write " + path_ + " at offset " + std::to_string(offset));
    return Status::OK();
  }
  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    const std::string& s = n_->now;
    *got = offset >= s.size() ? 0 : std::min<std::size_t>(n, s.size() - offset);
    if (*got != 0) std::memcpy(buf, s.data() + offset, *got);
    return Status::OK();
  }
  Status datasync() override {
    Gate g(*st_, CrashFs::kDatasync);
    if (g.err() == 0 && n_->wb_error) {
      n_->wb_error = false;
      n_->pending.clear();
      return Status::FromErrno(EIO, "fdatasync " + path_);
    }
    if (g.err() != 0) {
      // Linux: the dirty pages are marked clean although they never reached
      // the disk; a later fsync has nothing to write and "succeeds".
      if (!g.power()) n_->pending.clear();
      return Status::FromErrno(g.err(), "fdatasync " + path_);
    }
    for (const Node::PendingOp& op : n_->pending) apply_op(&n_->disk, op);
    n_->pending.clear();
    return Status::OK();
  }
  Status truncate(std::uint64_t size) override {
    Gate g(*st_, CrashFs::kTruncate);
    if (g.err() != 0) return Status::FromErrno(g.err(), "ftruncate " + path_);
    Node::PendingOp op{true, size, {}};
    apply_op(&n_->now, op);
    n_->pending.push_back(std::move(op));
    return Status::OK();
  }
  Result<std::uint64_t> size() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    return static_cast<std::uint64_t>(n_->now.size());
  }
  const std::string& path() const override { return path_; }
  Status lock_exclusive() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    if (n_->lock_owner != nullptr && n_->lock_owner != this)
      return Status(Errc::refused, EAGAIN, "lock " + path_ + ": held by another open (refused)");
    n_->lock_owner = this;
    return Status::OK();
  }
  Result<bool> locked_by_other() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    return n_->lock_owner != nullptr && n_->lock_owner != this;
  }

 private:
  std::shared_ptr<CrashFs::State> st_;
  std::shared_ptr<Node> n_;
  std::string path_;
};

class MemDir final : public io::Dir {
 public:
  MemDir(std::shared_ptr<CrashFs::State> st, std::shared_ptr<Node> n, std::string path)
      : st_(std::move(st)), n_(std::move(n)), path_(std::move(path)) {}

  Result<std::unique_ptr<io::Dir>> open_dir(std::string_view name, bool create, mode_t, bool* created) override {
    RUNLOG_RETURN_IF_ERROR(io::check_component(name));
    if (created != nullptr) *created = false;
    const std::string p = join(path_, name);
    std::shared_ptr<Node> child;
    {
      std::unique_lock<std::mutex> lock(st_->mu);
      auto it = n_->entries.find(std::string(name));
      if (it != n_->entries.end()) {
        if (!it->second->is_dir) return Status(Errc::refused, ENOTDIR, "open " + p + ": is not a folder (refused)");
        child = it->second;
      } else if (!create) {
        return Status::FromErrno(ENOENT, "open " + p);
      }
    }
    if (!child) {
      Gate g(*st_, CrashFs::kCreate);
      if (g.err() != 0) return Status::FromErrno(g.err(), "mkdir " + p);
      auto it = n_->entries.find(std::string(name));
      if (it != n_->entries.end()) {
        child = it->second;
      } else {
        child = std::make_shared<Node>();
        child->is_dir = true;
        n_->entries[std::string(name)] = child;
        if (created != nullptr) *created = true;
      }
    }
    return std::unique_ptr<io::Dir>(new MemDir(st_, std::move(child), p));
  }

  Result<std::unique_ptr<io::File>> open_file(std::string_view name, io::OpenMode mode, mode_t,
                                              bool* created) override {
    RUNLOG_RETURN_IF_ERROR(io::check_component(name));
    if (created != nullptr) *created = false;
    const std::string p = join(path_, name);
    std::shared_ptr<Node> child;
    {
      std::unique_lock<std::mutex> lock(st_->mu);
      auto it = n_->entries.find(std::string(name));
      if (it != n_->entries.end()) {
        if (it->second->is_dir)
          return Status(Errc::refused, 0, "open " + p + ": is a folder, not a regular file (refused)");
        if (mode == io::OpenMode::create_new) return Status::FromErrno(EEXIST, "open " + p);
        child = it->second;
      } else if (mode == io::OpenMode::read_only || mode == io::OpenMode::read_write) {
        return Status::FromErrno(ENOENT, "open " + p);
      }
    }
    if (!child) {
      Gate g(*st_, CrashFs::kCreate);
      if (g.err() != 0) return Status::FromErrno(g.err(), "open " + p);
      child = std::make_shared<Node>();
      n_->entries[std::string(name)] = child;
      if (created != nullptr) *created = true;
    }
    return std::unique_ptr<io::File>(new MemFile(st_, std::move(child), p));
  }

  Status sync() override {
    Gate g(*st_, CrashFs::kDirSync);
    if (g.err() != 0) return Status::FromErrno(g.err(), "fsync " + path_);
    n_->synced = n_->entries;
    return Status::OK();
  }
  Status sync_filesystem() override {
    Gate g(*st_, CrashFs::kSyncfs);
    if (g.power()) return Status::FromErrno(g.err(), "syncfs " + path_);
    const bool failed = g.err() != 0;
    // Every file reachable from every root: one CrashFs is one file system.
    std::vector<Node*> todo;
    std::unordered_map<const Node*, bool> seen;
    for (auto& [name, root] : st_->roots) todo.push_back(root.get());
    while (!todo.empty()) {
      Node* n = todo.back();
      todo.pop_back();
      if (!seen.emplace(n, true).second) continue;
      if (n->is_dir) {
        for (auto& [name, child] : n->entries) todo.push_back(child.get());
        continue;
      }
      if (n->pending.empty()) continue;
      if (failed) {
        n->wb_error = true;  // Linux marks the pages clean; each file's next fdatasync reports it
      } else {
        for (const Node::PendingOp& op : n->pending) apply_op(&n->disk, op);
      }
      n->pending.clear();
    }
    if (failed) return Status::FromErrno(g.err(), "syncfs " + path_);
    return Status::OK();
  }
  Status rename(std::string_view from, std::string_view to) override {
    RUNLOG_RETURN_IF_ERROR(io::check_component(from));
    RUNLOG_RETURN_IF_ERROR(io::check_component(to));
    Gate g(*st_, CrashFs::kRename);
    const std::string what = "rename " + join(path_, from) + " to " + std::string(to);
    if (g.err() != 0) return Status::FromErrno(g.err(), what);
    auto it = n_->entries.find(std::string(from));
    if (it == n_->entries.end()) return Status::FromErrno(ENOENT, what);
    auto node = it->second;
    n_->entries.erase(it);
    n_->entries[std::string(to)] = std::move(node);
    return Status::OK();
  }
  Status remove(std::string_view name) override {
    RUNLOG_RETURN_IF_ERROR(io::check_component(name));
    Gate g(*st_, CrashFs::kRemove);
    if (g.err() != 0) return Status::FromErrno(g.err(), "unlink " + join(path_, name));
    auto it = n_->entries.find(std::string(name));
    if (it != n_->entries.end() && it->second->is_dir)
      return Status::FromErrno(EISDIR, "unlink " + join(path_, name));
    if (it != n_->entries.end()) n_->entries.erase(it);
    return Status::OK();
  }
  Result<std::vector<std::string>> list() override {
    std::lock_guard<std::mutex> lock(st_->mu);
    std::vector<std::string> out;
    for (const auto& e : n_->entries) out.push_back(e.first);
    return out;
  }
  Result<bool> exists(std::string_view name) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    return n_->entries.count(std::string(name)) != 0;
  }
  const std::string& path() const override { return path_; }

 private:
  std::shared_ptr<CrashFs::State> st_;
  std::shared_ptr<Node> n_;
  std::string path_;
};

void list_files(const Node& n, const std::string& prefix, std::vector<std::string>* out) {
  for (const auto& [name, child] : n.entries) {
    const std::string p = prefix.empty() ? name : prefix + "/" + name;
    if (child->is_dir) {
      list_files(*child, p, out);
    } else {
      out->push_back(p);
    }
  }
}

const Node* find(const Node* n, const std::string& rel) {
  std::size_t pos = 0;
  while (n != nullptr && pos <= rel.size()) {
    const std::size_t slash = rel.find('/', pos);
    const std::string part = rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    auto it = n->entries.find(part);
    if (it == n->entries.end()) return nullptr;
    n = it->second.get();
    if (slash == std::string::npos) return n;
    pos = slash + 1;
  }
  return nullptr;
}

}  // namespace

CrashFs::CrashFs() : st_(std::make_shared<State>()) {}

void CrashFs::Inject(const Fault& fault) {
  std::lock_guard<std::mutex> lock(st_->mu);
  st_->faults.push_back(fault);
}
void CrashFs::PowerOffAt(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(st_->mu);
  st_->power_off_at = n;
}
void CrashFs::PowerOff() {
  std::lock_guard<std::mutex> lock(st_->mu);
  st_->powered_off = true;
}
bool CrashFs::powered_off() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->powered_off;
}
std::uint64_t CrashFs::ops() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->ops;
}
std::uint64_t CrashFs::failures() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->failures;
}
std::uint64_t CrashFs::failed_syncs() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->failed_syncs;
}

std::shared_ptr<CrashFs> CrashFs::Crash(std::uint64_t seed) const {
  auto out = std::make_shared<CrashFs>();
  std::lock_guard<std::mutex> lock(st_->mu);
  Imager im{std::mt19937_64(seed), true, false, {}};
  for (const auto& [path, node] : st_->roots) out->st_->roots[path] = im.image(node);
  return out;
}

std::shared_ptr<CrashFs> CrashFs::CrashLosingAllUnsynced() const {
  auto out = std::make_shared<CrashFs>();
  std::lock_guard<std::mutex> lock(st_->mu);
  Imager im{std::mt19937_64(0), true, true, {}};
  for (const auto& [path, node] : st_->roots) out->st_->roots[path] = im.image(node);
  return out;
}

std::shared_ptr<CrashFs> CrashFs::Copy() const {
  auto out = std::make_shared<CrashFs>();
  std::lock_guard<std::mutex> lock(st_->mu);
  Imager im{std::mt19937_64(0), false, false, {}};
  for (const auto& [path, node] : st_->roots) out->st_->roots[path] = im.image(node);
  return out;
}

bool CrashFs::ReadNow(const std::string& root, const std::string& rel, std::string* out) const {
  std::lock_guard<std::mutex> lock(st_->mu);
  auto it = st_->roots.find(root);
  if (it == st_->roots.end()) return false;
  const Node* n = find(it->second.get(), rel);
  if (n == nullptr || n->is_dir) return false;
  *out = n->now;
  return true;
}

std::vector<std::string> CrashFs::ListFiles(const std::string& root) const {
  std::lock_guard<std::mutex> lock(st_->mu);
  std::vector<std::string> out;
  auto it = st_->roots.find(root);
  if (it != st_->roots.end()) list_files(*it->second, "", &out);
  return out;
}

Result<std::unique_ptr<io::Dir>> CrashFs::open_root(const std::string& path, bool create, mode_t) {
  std::lock_guard<std::mutex> lock(st_->mu);
  auto it = st_->roots.find(path);
  if (it == st_->roots.end()) {
    // A folder below a root ("runs/t/r", as verify and the readers open them).
    for (const auto& [root, node] : st_->roots) {
      if (path.size() <= root.size() + 1 || path.compare(0, root.size(), root) != 0 || path[root.size()] != '/')
        continue;
      const Node* n = find(node.get(), path.substr(root.size() + 1));
      if (n == nullptr) break;
      if (!n->is_dir) return Status(Errc::refused, ENOTDIR, "open " + path + ": is not a folder (refused)");
      // find() walked const nodes; the tree owns them through shared_ptrs.
      std::shared_ptr<Node> owner = node;
      std::string rest = path.substr(root.size() + 1);
      for (std::size_t pos = 0; pos <= rest.size();) {
        const std::size_t slash = rest.find('/', pos);
        owner = owner->entries.at(rest.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
        if (slash == std::string::npos) break;
        pos = slash + 1;
      }
      return std::unique_ptr<io::Dir>(new MemDir(st_, std::move(owner), path));
    }
    if (!create) return Status::FromErrno(ENOENT, "open " + path);
    if (st_->powered_off) return Status::FromErrno(EIO, "mkdir " + path);
    // A root and its parents are made and synced at once (as posix_fs does).
    auto n = std::make_shared<Node>();
    n->is_dir = true;
    it = st_->roots.emplace(path, std::move(n)).first;
  }
  return std::unique_ptr<io::Dir>(new MemDir(st_, it->second, path));
}

std::uint64_t SeedFromEnv(std::uint64_t fallback) {
  const char* s = std::getenv("RUNLOG_CRASH_SEED");
  if (s == nullptr || *s == '\0') return fallback;
  return std::strtoull(s, nullptr, 0);
}

std::uint64_t SizeFromEnv(const char* name, std::uint64_t fallback, std::uint64_t long_value) {
  if (const char* s = std::getenv(name); s != nullptr && *s != '\0') return std::strtoull(s, nullptr, 0);
  if (const char* l = std::getenv("RUNLOG_LONG"); l != nullptr && std::string_view(l) == "1") return long_value;
  return fallback;
}

bool UnderSanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

}  // namespace runlog::testing
