// io/posix_fs.cpp — the real file system behind io/fs.h.
//
// Every name below a root is opened with openat() relative to the folder's
// descriptor, with O_NOFOLLOW and O_CLOEXEC; files are opened O_NONBLOCK (so a
// FIFO planted where a stream file belongs never blocks the open), checked
// with fstat() and refused unless they are regular files with one link.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/fs.h"

namespace runlog::io {
namespace {

std::string join(const std::string& dir, std::string_view name) {
  std::string p = dir;
  if (p.empty() || p.back() != '/') p += '/';
  p += name;
  return p;
}

// A refusal with the errno that revealed it (0 when fstat did).
Status refuse(int sys_errno, const std::string& path, std::string_view why) {
  std::string msg = "open ";
  msg += path;
  msg += ": ";
  msg += why;
  msg += " (refused)";
  return Status(Errc::refused, sys_errno, std::move(msg));
}

const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "is a folder, not a regular file";
  if (S_ISFIFO(m)) return "is a FIFO, not a regular file";
  if (S_ISCHR(m) || S_ISBLK(m)) return "is a device, not a regular file";
  if (S_ISSOCK(m)) return "is a socket, not a regular file";
  if (S_ISLNK(m)) return "is a symbolic link";
  return "is not a regular file";
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Status pwritev(const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    std::size_t total = 0;
    for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
    if (total == 0) return Status::OK();
    // Fast path: one call writes everything (no allocation on the append path).
    if (iovcnt <= IOV_MAX) {
      ssize_t n = ::pwritev(fd_, iov, iovcnt, static_cast<off_t>(offset));
      if (n >= 0 && static_cast<std::size_t>(n) == total) return Status::OK();
      if (n < 0 && errno != EINTR) return write_error(errno, offset);
      if (n > 0) return write_rest(iov, iovcnt, offset, static_cast<std::size_t>(n));
    }
    return write_rest(iov, iovcnt, offset, 0);
  }

  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    std::size_t done = 0;
    char* p = static_cast<char*>(buf);
    while (done < n) {
      ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        *got = done;
        return Status::FromErrno(errno, "read " + path_ + " at offset " + std::to_string(offset + done));
      }
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    *got = done;
    return Status::OK();
  }

  void start_writeback(std::uint64_t offset, std::uint64_t n) override {
    (void)::sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(n), SYNC_FILE_RANGE_WRITE);
  }

  Status datasync() override {
    // No retry on EINTR: after a failed sync the file's state is unknown.
    if (::fdatasync(fd_) != 0) return Status::FromErrno(errno, "fdatasync " + path_);
    return Status::OK();
  }

  Status truncate(std::uint64_t size) override {
    int r;
    do {
      r = ::ftruncate(fd_, static_cast<off_t>(size));
    } while (r != 0 && errno == EINTR);
    if (r != 0) return Status::FromErrno(errno, "truncate " + path_ + " to " + std::to_string(size) + " bytes");
    return Status::OK();
  }

  Result<std::uint64_t> size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(errno, "stat " + path_);
    return static_cast<std::uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

  Status lock_exclusive() override {
    struct flock lk{};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
    if (::fcntl(fd_, F_OFD_SETLK, &lk) == 0) return Status::OK();
    int e = errno;
    if (e == EAGAIN || e == EACCES)
      return Status(Errc::refused, e, "lock " + path_ + ": held by another writer");
    return Status::FromErrno(e, "lock " + path_);
  }

  Result<bool> locked_by_other() override {
    struct flock lk{};
    lk.l_type = F_RDLCK;
    lk.l_whence = SEEK_SET;
    if (::fcntl(fd_, F_OFD_GETLK, &lk) != 0) return Status::FromErrno(errno, "query lock " + path_);
    return lk.l_type != F_UNLCK;
  }

 private:
  Status write_error(int e, std::uint64_t offset) const {
    return Status::FromErrno(e, "write " + path_ + " at offset " + std::to_string(offset));
  }

  // Writes what is left after `skip` bytes of iov were written at offset,
  // looping over short writes and EINTR.
  Status write_rest(const struct iovec* iov, int iovcnt, std::uint64_t offset, std::size_t skip) {
    std::vector<struct iovec> v(iov, iov + iovcnt);
    std::size_t first = 0;
    std::uint64_t off = offset;
    auto advance = [&](std::size_t n) {
      off += n;
      while (n > 0 && first < v.size()) {
        std::size_t k = std::min(n, v[first].iov_len);
        v[first].iov_base = static_cast<char*>(v[first].iov_base) + k;
        v[first].iov_len -= k;
        n -= k;
        if (v[first].iov_len == 0) ++first;
      }
      while (first < v.size() && v[first].iov_len == 0) ++first;
    };
    advance(skip);
    while (first < v.size()) {
      int cnt = static_cast<int>(std::min<std::size_t>(v.size() - first, IOV_MAX));
      ssize_t n = ::pwritev(fd_, v.data() + first, cnt, static_cast<off_t>(off));
      if (n < 0) {
        if (errno == EINTR) continue;
        return write_error(errno, off);
      }
      if (n == 0) {
        return Status(Errc::io_error, EIO,
                      "write " + path_ + " at offset " + std::to_string(off) + ": no progress (0 bytes written)");
      }
      advance(static_cast<std::size_t>(n));
    }
    return Status::OK();
  }

  const int fd_;
  const std::string path_;
};

class PosixDir final : public Dir {
 public:
  PosixDir(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixDir() override { ::close(fd_); }
  PosixDir(const PosixDir&) = delete;
  PosixDir& operator=(const PosixDir&) = delete;

  Result<std::unique_ptr<Dir>> open_dir(std::string_view name, bool create, mode_t mode,
                                        bool* created) override {
    if (created) *created = false;
    RUNLOG_RETURN_IF_ERROR(check_component(name));
    const std::string n(name);
    const std::string p = join(path_, name);
    bool made = false;
    if (create) {
      if (::mkdirat(fd_, n.c_str(), mode) == 0) {
        made = true;
      } else if (errno != EEXIST) {
        return Status::FromErrno(errno, "mkdir " + p);
      }
    }
    int fd = ::openat(fd_, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      if (e == ELOOP || e == ENOTDIR) {
        struct stat st;
        bool link = ::fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
        return refuse(e, p, link ? "is a symbolic link" : "is not a folder");
      }
      return Status::FromErrno(e, "open " + p);
    }
    if (created) *created = made;
    return std::unique_ptr<Dir>(new PosixDir(fd, p));
  }

  Result<std::unique_ptr<File>> open_file(std::string_view name, OpenMode mode, mode_t perm,
                                          bool* created) override {
    if (created) *created = false;
    RUNLOG_RETURN_IF_ERROR(check_component(name));
    const std::string n(name);
    const std::string p = join(path_, name);
    const int flags = (mode == OpenMode::read_only ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC |
                      O_NONBLOCK | O_NOCTTY;
    int fd = -1;
    bool made = false;
    switch (mode) {
      case OpenMode::create_new:
        fd = ::openat(fd_, n.c_str(), flags | O_CREAT | O_EXCL, perm);
        made = fd >= 0;
        break;
      case OpenMode::create:
        // O_EXCL first so we know whether this call made it (and so a dangling
        // symlink is never created through: O_EXCL does not follow it).
        for (int attempt = 0; attempt < 4; ++attempt) {
          fd = ::openat(fd_, n.c_str(), flags | O_CREAT | O_EXCL, perm);
          if (fd >= 0) {
            made = true;
            break;
          }
          if (errno != EEXIST) break;
          fd = ::openat(fd_, n.c_str(), flags);
          if (fd >= 0 || errno != ENOENT) break;  // removed in between: try again
        }
        break;
      case OpenMode::read_only:
      case OpenMode::read_write:
        fd = ::openat(fd_, n.c_str(), flags);
        break;
    }
    if (fd < 0) {
      int e = errno;
      if (e == ELOOP) return refuse(e, p, "is a symbolic link");
      if (e == EISDIR) return refuse(e, p, "is a folder, not a regular file");
      if (e == ENXIO) return refuse(e, p, "is not a regular file");
      return Status::FromErrno(e, "open " + p);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return Status::FromErrno(e, "stat " + p);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return refuse(0, p, file_kind(st.st_mode));
    }
    if (st.st_nlink > 1) {
      ::close(fd);
      return refuse(0, p, "has " + std::to_string(st.st_nlink) + " hard links");
    }
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
      int e = errno;
      ::close(fd);
      return Status::FromErrno(e, "fcntl " + p);
    }
    if (created) *created = made;
    return std::unique_ptr<File>(new PosixFile(fd, p));
  }

  Status sync() override {
    if (::fsync(fd_) != 0) return Status::FromErrno(errno, "fsync " + path_);
    return Status::OK();
  }
  Status sync_filesystem() override {
    if (::syncfs(fd_) != 0) return Status::FromErrno(errno, "syncfs " + path_);
    return Status::OK();
  }

  Status rename(std::string_view from, std::string_view to) override {
    RUNLOG_RETURN_IF_ERROR(check_component(from));
    RUNLOG_RETURN_IF_ERROR(check_component(to));
    const std::string f(from), t(to);
    if (::renameat(fd_, f.c_str(), fd_, t.c_str()) != 0)
      return Status::FromErrno(errno, "rename " + join(path_, from) + " to " + t);
    return Status::OK();
  }

  Status remove(std::string_view name) override {
    RUNLOG_RETURN_IF_ERROR(check_component(name));
    const std::string n(name);
    if (::unlinkat(fd_, n.c_str(), 0) != 0 && errno != ENOENT)
      return Status::FromErrno(errno, "remove " + join(path_, name));
    return Status::OK();
  }

  Result<std::vector<std::string>> list() override {
    // A fresh descriptor: readdir's position must not be shared with fd_.
    int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + path_);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      int e = errno;
      ::close(fd);
      return Status::FromErrno(e, "list " + path_);
    }
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* ent = ::readdir(d);
      if (ent == nullptr) break;
      std::string_view nm(ent->d_name);
      if (nm != "." && nm != "..") names.emplace_back(nm);
    }
    int e = errno;
    ::closedir(d);
    if (e != 0) return Status::FromErrno(e, "list " + path_);
    return names;
  }

  Result<bool> exists(std::string_view name) override {
    RUNLOG_RETURN_IF_ERROR(check_component(name));
    const std::string n(name);
    struct stat st;
    if (::fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
    if (errno == ENOENT) return false;
    return Status::FromErrno(errno, "stat " + join(path_, name));
  }

  const std::string& path() const override { return path_; }

 private:
  const int fd_;
  const std::string path_;
};

// fsync of the folder at `path` (a parent whose entry list just changed).
Status sync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  Status st;
  if (::fsync(fd) != 0) st = Status::FromErrno(errno, "fsync " + path);
  ::close(fd);
  return st;
}

class PosixFs final : public Fs {
 public:
  Result<std::unique_ptr<Dir>> open_root(const std::string& path, bool create, mode_t mode) override {
    if (path.empty()) return Status::Invalid("open root: empty path");
    if (path.find('\0') != std::string::npos) return Status::Invalid("open root: path contains a NUL byte");
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (create) {
      // mkdir -p, syncing the parent of every folder this call made.
      std::size_t pos = p[0] == '/' ? 1 : 0;
      while (pos < p.size()) {
        std::size_t next = p.find('/', pos);
        if (next == std::string::npos) next = p.size();
        std::string_view comp(p.data() + pos, next - pos);
        if (!comp.empty() && comp != "." && comp != "..") {
          const std::string prefix = p.substr(0, next);
          if (::mkdir(prefix.c_str(), mode) == 0) {
            std::string parent = pos == 0 ? "." : (pos == 1 && p[0] == '/') ? "/" : p.substr(0, pos - 1);
            RUNLOG_RETURN_IF_ERROR(sync_path(parent));
          } else if (errno != EEXIST) {
            return Status::FromErrno(errno, "mkdir " + prefix);
          }
        }
        pos = next + 1;
      }
    }
    int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + p);
    return std::unique_ptr<Dir>(new PosixDir(fd, p));
  }
};

}  // namespace

Status check_component(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    std::string shown;
    for (unsigned char c : name) {
      if (c >= 0x20 && c < 0x7f) {
        shown += static_cast<char>(c);
      } else {
        static const char* hex = "0123456789abcdef";
        shown += "\\x";
        shown += hex[c >> 4];
        shown += hex[c & 15];
      }
    }
    return Status::Invalid("invalid name \"" + shown + "\": must be one path component (not empty, \".\" or \"..\", no '/')");
  }
  return Status::OK();
}

std::shared_ptr<Fs> posix_fs() {
  static const std::shared_ptr<Fs> fs = std::make_shared<PosixFs>();
  return fs;
}

Status write_file_atomic(Dir& dir, std::string_view name, std::string_view content, mode_t perm) {
  RUNLOG_RETURN_IF_ERROR(check_component(name));
  const std::string tmp = std::string(name) + ".tmp";
  // A stale temp file from a crash is removed (unlinking a planted symlink or
  // hard link removes only the entry, never writes through it).
  RUNLOG_RETURN_IF_ERROR(dir.remove(tmp));
  std::unique_ptr<File> f;
  RUNLOG_RETURN_IF_ERROR(dir.open_file(tmp, OpenMode::create_new, perm).get(f));
  Status st = f->pwrite(content.data(), content.size(), 0);
  if (st.ok()) st = f->datasync();
  f.reset();
  if (st.ok()) st = dir.rename(tmp, name);
  if (!st.ok()) {
    (void)dir.remove(tmp);  // best effort; the first error is the one to report
    return st;
  }
  return dir.sync();
}

Result<std::string> read_file(Dir& dir, std::string_view name) {
  std::unique_ptr<File> f;
  RUNLOG_RETURN_IF_ERROR(dir.open_file(name, OpenMode::read_only, 0).get(f));
  std::string out;
  std::uint64_t size = 0;
  if (f->size().get(size).ok()) out.reserve(static_cast<std::size_t>(size));
  char buf[64 * 1024];
  for (;;) {
    std::size_t got = 0;
    RUNLOG_RETURN_IF_ERROR(f->pread(buf, sizeof buf, out.size(), &got));
    if (got == 0) break;
    out.append(buf, got);
  }
  return out;
}

}  // namespace runlog::io
