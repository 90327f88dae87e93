// io/file_storage.cpp — the engine's Storage over the file-system seam, and
// Engine::open(), which wires the two together.
#include <fmt/format.h>

#include "core/engine_internal.h"
#include "core/storage.h"
#include "io/fs.h"
#include "io/run_dir.h"

namespace runlog {
namespace io {
namespace {

class FileRunStorage final : public detail::RunStorage {
 public:
  FileRunStorage(Dir& root, std::string task, std::string run, LayoutOptions layout, RunFiles files)
      : root_(root), task_(std::move(task)), run_(std::move(run)), layout_(layout), files_(std::move(files)) {}

  Status append(Channel ch, const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    return files_.channel[static_cast<int>(ch)]->pwritev(iov, iovcnt, offset);
  }
  Status sync(Channel ch) override { return files_.channel[static_cast<int>(ch)]->datasync(); }
  Status write_state(const RunStateSnapshot& state) override { return io::write_state(*files_.dir, state, layout_); }
  Status write_durable(std::uint64_t seq) override { return write_durable_seq(*files_.durable_seq, seq); }
  Status make_checkpoint(std::uint64_t n) override { return create_checkpoint_dir(*files_.dir, n, layout_); }
  void close_files() override { files_.evict(); }
  void release() override { files_.close(); }
  Status reopen_files() override { return reopen_run_files(root_, task_, run_, &files_); }
  bool files_open() const override { return files_.is_open(); }
  int descriptor_count() const override { return RunFiles::kEvictable; }
  std::string describe(Channel ch) const override {
    return fmt::format("{}/{}/{}/{}", root_.path(), task_, run_, channel_file_name(ch));
  }

 private:
  Dir& root_;  // outlives every run: owned by FileStorage
  std::string task_, run_;
  LayoutOptions layout_;
  RunFiles files_;
};

class FileStorage final : public detail::Storage {
 public:
  FileStorage(std::unique_ptr<Dir> root, LayoutOptions layout) : root_(std::move(root)), layout_(layout) {}

  Result<std::unique_ptr<detail::RunStorage>> open_run(const RunMetadata& meta,
                                                       detail::RecoveredStream* out) override {
    RunFiles files;
    auto rec = open_run_dir(*root_, meta, layout_, &files);
    if (!rec.ok()) return rec.status();
    RecoveredRun& r = rec.value();
    out->created = r.created;
    out->last_seq = r.last_seq;
    out->sizes = r.sizes;
    out->summary = r.summary;
    out->meta = std::move(r.meta);
    out->state = std::move(r.state);
    out->repairs = std::move(r.repairs);
    return std::unique_ptr<detail::RunStorage>(
        new FileRunStorage(*root_, meta.taskId, meta.runId, layout_, std::move(files)));
  }

 private:
  std::unique_ptr<Dir> root_;
  LayoutOptions layout_;
};

}  // namespace
}  // namespace io

Result<std::unique_ptr<Engine>> Engine::open(Options options) {
  RUNLOG_RETURN_IF_ERROR(validate_options(options));
  if (!options.fs) options.fs = io::posix_fs();
  auto root = options.fs->open_root(options.runsRoot, true, options.dirMode);
  if (!root.ok()) return root.status();
  io::LayoutOptions layout{options.dirMode, options.fileMode};
  auto storage = std::make_unique<io::FileStorage>(std::move(root).value(), layout);
  auto core = std::make_unique<detail::EngineCore>(std::move(options), std::move(storage));
  return std::unique_ptr<Engine>(new Engine(std::move(core)));
}

}  // namespace runlog
