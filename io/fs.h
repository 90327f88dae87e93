// io/fs.h — the one seam between runlog and the file system.
//
// Every file and folder runlog touches is reached through these interfaces, so
// tests can run the engine on a fault-injecting implementation that simulates
// power loss and I/O errors (LevelDB's Env, narrowed to what runlog needs).
//
// Containment (SPEC invariant 6): a Dir is an open directory descriptor; every
// name below it is opened relative to it with O_NOFOLLOW, and names are single
// path components (no '/', not "." or ".."). A symlink, FIFO, device, socket or
// a regular file with more than one hard link where a stream file belongs is
// refused (Errc::refused), never opened for writing.
//
// Threads: a File or Dir object may be used by one thread at a time, except that
// File::datasync() may run on another thread concurrently with pwritev() on the
// same File (the sync pool does exactly that). The Fs object itself is
// thread-safe. io/ starts no threads.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runlog/status.h"

namespace runlog::io {

/// An open regular file. All offsets are explicit; there is no file position.
class File {
 public:
  virtual ~File() = default;

  /// Writes every byte of iov[0..iovcnt) at `offset`. Loops over short writes
  /// and EINTR. On error returns io_error with errno and path; some prefix of
  /// the bytes may have reached the file.
  virtual Status pwritev(const struct iovec* iov, int iovcnt, std::uint64_t offset) = 0;
  Status pwrite(const void* data, std::size_t n, std::uint64_t offset) {
    struct iovec v{const_cast<void*>(data), n};
    return pwritev(&v, 1, offset);
  }
  /// Reads up to n bytes at offset into buf; *got is what was read (0 at EOF).
  virtual Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) = 0;
  /// fdatasync. After a failure the file's state is indeterminate: callers
  /// must fail-stop, never retry and take a later success as durability.
  virtual Status datasync() = 0;
  /// Starts writing [offset, offset + n) back to the device without waiting
  /// and without a flush (sync_file_range SYNC_FILE_RANGE_WRITE): a hint that
  /// promises nothing. Default: nothing.
  virtual void start_writeback(std::uint64_t /*offset*/, std::uint64_t /*n*/) {}
  /// ftruncate to `size` (not durable until datasync()).
  virtual Status truncate(std::uint64_t size) = 0;
  /// The file's current size.
  virtual Result<std::uint64_t> size() = 0;
  /// The path relative to the Fs root it was opened under, for messages.
  virtual const std::string& path() const = 0;

  /// Takes an exclusive lock on the whole file, held until this File is
  /// destroyed (an open-file-description lock, fcntl F_OFD_SETLK: it conflicts
  /// with any other open of the file, in this process or another). refused when
  /// another holds it. A writer holds it on durable.seq while the run is open.
  virtual Status lock_exclusive() { return Status::OK(); }
  /// Whether another open of the file holds a lock on it (F_OFD_GETLK). This is
  /// how readers tell a live run (a writer has it open) from a finished one.
  virtual Result<bool> locked_by_other() { return false; }
};

enum class OpenMode : std::uint8_t {
  read_only,      ///< must exist
  read_write,     ///< must exist
  create,         ///< read/write; created (with the given mode) when missing
  create_new,     ///< read/write; must not exist (O_EXCL)
};

/// An open directory. Names are single components.
class Dir {
 public:
  virtual ~Dir() = default;

  /// Opens the sub-folder `name`; with create, makes it (mode) when missing.
  /// *created tells whether it was made by this call (its entry is then not
  /// durable until this Dir is sync()-ed). A symlink or non-folder: refused.
  virtual Result<std::unique_ptr<Dir>> open_dir(std::string_view name, bool create, mode_t mode,
                                                bool* created = nullptr) = 0;
  /// Opens the regular file `name`. Refuses symlinks, FIFOs, devices,
  /// sockets, folders and files with st_nlink > 1. *created as for open_dir.
  virtual Result<std::unique_ptr<File>> open_file(std::string_view name, OpenMode mode, mode_t perm,
                                                  bool* created = nullptr) = 0;
  /// fsync of the directory itself: makes its entries (creations, renames) durable.
  virtual Status sync() = 0;
  /// syncfs(2) of the file system this folder is on: every file's data and
  /// size written before the call reach the disk, as fdatasync of each would
  /// (one device flush for any number of files). Folder entries are not
  /// promised: sync() them. A failure cannot be pinned on one file (Linux
  /// reports it once per file system and marks the failed pages clean):
  /// callers must fail-stop every file written since its last sync.
  virtual Status sync_filesystem() = 0;
  /// Atomic rename within this directory (renameat).
  virtual Status rename(std::string_view from, std::string_view to) = 0;
  /// Removes a file (unlinkat). Missing is not an error.
  virtual Status remove(std::string_view name) = 0;
  /// The names of the entries (no "." or ".."), unsorted.
  virtual Result<std::vector<std::string>> list() = 0;
  /// Whether `name` exists (lstat: a symlink counts as existing).
  virtual Result<bool> exists(std::string_view name) = 0;
  /// The path of this folder, as given to Fs::open_root plus the components, for messages.
  virtual const std::string& path() const = 0;
};

/// The file system: opens roots. Thread-safe.
class Fs {
 public:
  virtual ~Fs() = default;
  /// Opens the folder at `path` (which may follow symlinks: the root is the
  /// user's choice). With create, makes it and its missing parents (mode),
  /// syncing each parent whose entry was added.
  virtual Result<std::unique_ptr<Dir>> open_root(const std::string& path, bool create, mode_t mode) = 0;
};

/// ok when `name` is one path component: not empty, not "." or "..", no '/'
/// and no NUL byte; invalid_argument naming it otherwise. Every Dir
/// implementation checks its names with this.
Status check_component(std::string_view name);

/// The real file system (POSIX, openat + O_NOFOLLOW + O_CLOEXEC everywhere).
std::shared_ptr<Fs> posix_fs();

/// Writes `name` in `dir` atomically: a temp file (name + ".tmp"), fdatasync,
/// rename over `name`, then dir.sync(). Any failure leaves the old content.
Status write_file_atomic(Dir& dir, std::string_view name, std::string_view content, mode_t perm);

/// Reads the whole regular file `name` in `dir` (refusing what open_file refuses).
Result<std::string> read_file(Dir& dir, std::string_view name);

}  // namespace runlog::io
