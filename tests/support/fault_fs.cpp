// tests/support/fault_fs.cpp — see fault_fs.h.
#include "support/fault_fs.h"

#include <thread>

namespace runlog::testing {
namespace {

class FaultFile final : public io::File {
 public:
  FaultFile(std::shared_ptr<FaultFs> fs, std::unique_ptr<io::File> real) : fs_(std::move(fs)), real_(std::move(real)) {}
  Status pwritev(const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    if (int e = fs_->FaultFor(FaultFs::Op::pwritev, real_->path()); e != 0)
      return Status::FromErrno(e, "write " + real_->path() + " at offset " + std::to_string(offset));
    if (auto delay = fs_->WriteDelayFor(real_->path()); delay.count() > 0) {
      std::this_thread::sleep_for(delay);
      Status st = real_->pwritev(iov, iovcnt, offset);
      fs_->NoteSlowWriteDone();
      return st;
    }
    return real_->pwritev(iov, iovcnt, offset);
  }
  Status pread(void* buf, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    return real_->pread(buf, n, offset, got);
  }
  Status datasync() override {
    if (int e = fs_->FaultFor(FaultFs::Op::datasync, real_->path()); e != 0)
      return Status::FromErrno(e, "fdatasync " + real_->path());
    return real_->datasync();
  }
  Status truncate(std::uint64_t size) override { return real_->truncate(size); }
  Result<std::uint64_t> size() override { return real_->size(); }
  const std::string& path() const override { return real_->path(); }

 private:
  std::shared_ptr<FaultFs> fs_;
  std::unique_ptr<io::File> real_;
};

class FaultDir final : public io::Dir {
 public:
  FaultDir(std::shared_ptr<FaultFs> fs, std::unique_ptr<io::Dir> real) : fs_(std::move(fs)), real_(std::move(real)) {}
  Result<std::unique_ptr<io::Dir>> open_dir(std::string_view name, bool create, mode_t mode, bool* created) override {
    auto r = real_->open_dir(name, create, mode, created);
    if (!r.ok()) return r.status();
    return std::unique_ptr<io::Dir>(new FaultDir(fs_, std::move(r).value()));
  }
  Result<std::unique_ptr<io::File>> open_file(std::string_view name, io::OpenMode mode, mode_t perm,
                                              bool* created) override {
    auto r = real_->open_file(name, mode, perm, created);
    if (!r.ok()) return r.status();
    return std::unique_ptr<io::File>(new FaultFile(fs_, std::move(r).value()));
  }
  Status sync() override { return real_->sync(); }
  Status sync_filesystem() override {
    const int e = fs_->FaultFor(FaultFs::Op::syncfs, real_->path());  // decided when called
    fs_->WaitIfHeld();
    if (e != 0) return Status::FromErrno(e, "syncfs " + real_->path());
    return real_->sync_filesystem();
  }
  Status rename(std::string_view from, std::string_view to) override { return real_->rename(from, to); }
  Status remove(std::string_view name) override { return real_->remove(name); }
  Result<std::vector<std::string>> list() override { return real_->list(); }
  Result<bool> exists(std::string_view name) override { return real_->exists(name); }
  const std::string& path() const override { return real_->path(); }

 private:
  std::shared_ptr<FaultFs> fs_;
  std::unique_ptr<io::Dir> real_;
};

}  // namespace

Result<std::unique_ptr<io::Dir>> FaultFs::open_root(const std::string& path, bool create, mode_t mode) {
  auto r = real_->open_root(path, create, mode);
  if (!r.ok()) return r.status();
  return std::unique_ptr<io::Dir>(new FaultDir(shared_from_this(), std::move(r).value()));
}

}  // namespace runlog::testing
