// io/file_storage.cpp — the engine's Storage (core/storage.h) over the
// file-system seam. Engine::open() wires it to the engine (wiring/engine_open.cpp).
#include <fmt/format.h>

#include <array>
#include <mutex>

#include "core/storage.h"
#include "io/file_storage.h"
#include "io/conversation_dir.h"
#include "io/fs.h"
#include "io/journal.h"
#include "io/run_dir.h"

namespace runlog {
namespace io {
namespace {

class FileRunStorage final : public detail::RunStorage {
 public:
  FileRunStorage(Dir& root, std::string task, std::string run, LayoutOptions layout, RunFiles files)
      : root_(root), task_(std::move(task)), run_(std::move(run)), layout_(layout), files_(std::move(files)) {
    for (int c = 0; c < kRunChannels; ++c)
      journal_paths_[c] = fmt::format("{}/{}/{}", task_, run_, channel_file_name(static_cast<Channel>(c)));
  }

  Status append(Channel ch, const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    return files_.channel[static_cast<int>(ch)]->pwritev(iov, iovcnt, offset);
  }
  Status sync(Channel ch) override { return files_.channel[static_cast<int>(ch)]->datasync(); }
  void start_writeback(Channel ch, std::uint64_t offset, std::uint64_t n) override {
    files_.channel[static_cast<int>(ch)]->start_writeback(offset, n);
  }
  Status write_state(const RunStateSnapshot& state) override { return io::write_state(*files_.dir, state, layout_); }
  Status write_durable(std::uint64_t seq) override {
    return write_durable_seq(*files_.durable_seq, seq, &files_.durable_written);
  }
  Status make_checkpoint(std::uint64_t n) override { return create_checkpoint_dir(*files_.dir, n, layout_); }
  void close_files() override { files_.evict(); }
  void release() override { files_.close(); }
  Status reopen_files() override { return reopen_run_files(root_, task_, run_, &files_); }
  bool files_open() const override { return files_.is_open(); }
  int descriptor_count() const override { return RunFiles::kEvictable; }
  std::string describe(Channel ch) const override {
    return fmt::format("{}/{}/{}/{}", root_.path(), task_, run_, channel_file_name(ch));
  }
  const std::string& journal_path(Channel ch) const override { return journal_paths_[static_cast<int>(ch)]; }

 private:
  Dir& root_;  // outlives every run: owned by FileStorage
  std::string task_, run_;
  std::array<std::string, kRunChannels> journal_paths_;
  LayoutOptions layout_;
  RunFiles files_;
};

// A conversation: chunks.jsonl is channel 0; there is no state.json and no checkpoint.
class FileConversationStorage final : public detail::RunStorage {
 public:
  FileConversationStorage(Dir& root, std::string id, RunFiles files)
      : root_(root), id_(std::move(id)), files_(std::move(files)) {}

  Status append(Channel ch, const struct iovec* iov, int iovcnt, std::uint64_t offset) override {
    return files_.channel[static_cast<int>(ch)]->pwritev(iov, iovcnt, offset);
  }
  Status sync(Channel ch) override { return files_.channel[static_cast<int>(ch)]->datasync(); }
  Status write_state(const RunStateSnapshot&) override { return Status::OK(); }
  Status write_durable(std::uint64_t seq) override {
    return write_durable_seq(*files_.durable_seq, seq, &files_.durable_written);
  }
  Status make_checkpoint(std::uint64_t) override { return Status::Invalid("a conversation has no checkpoints"); }
  void close_files() override { files_.evict(); }
  void release() override { files_.close(); }
  Status reopen_files() override { return reopen_conversation_files(root_, id_, &files_); }
  bool files_open() const override { return files_.is_open(); }
  int descriptor_count() const override { return 2; }
  std::string describe(Channel) const override { return fmt::format("{}/{}/{}", root_.path(), id_, kChunksFileName); }
  const std::string& journal_path(Channel) const override { return no_path_; }  // never journaled

 private:
  Dir& root_;  // owned by FileStorage
  std::string id_;
  RunFiles files_;
  std::string no_path_;
};

class FileStorage final : public detail::Storage {
 public:
  FileStorage(std::unique_ptr<Dir> root, LayoutOptions layout, std::shared_ptr<Fs> fs, std::string conv_root,
              std::unique_ptr<Journal> journal)
      : root_(std::move(root)),
        layout_(layout),
        fs_(std::move(fs)),
        conv_root_path_(std::move(conv_root)),
        journal_(std::move(journal)) {}

  detail::WaveJournal* journal() override { return journal_.get(); }

  Status sync_volume(detail::Volume volume) override {
    if (volume == detail::Volume::runs) return root_->sync_filesystem();
    Dir* conv = nullptr;
    {
      std::lock_guard<std::mutex> lock(conv_mu_);
      conv = conv_root_.get();
    }
    if (conv == nullptr) return Status::Invalid("syncfs of the conversations root before it was opened");
    return conv->sync_filesystem();
  }

  Result<std::unique_ptr<detail::RunStorage>> open_conversation(const std::string& id,
                                                                detail::RecoveredStream* out) override {
    Dir* root = nullptr;
    {
      std::lock_guard<std::mutex> lock(conv_mu_);
      if (conv_root_ == nullptr) {  // opened (made) on first use
        auto r = fs_->open_root(conv_root_path_, true, layout_.dir_mode);
        if (!r.ok()) return r.status();
        conv_root_ = std::move(r).value();
      }
      root = conv_root_.get();
    }
    RunFiles files;
    auto rec = open_conversation_dir(*root, id, layout_, &files);
    if (!rec.ok()) return rec.status();
    out->created = rec->created;
    out->last_seq = rec->last_seq;
    out->sizes = {rec->size, 0, 0};
    out->summary.totalEntries = rec->last_seq;
    out->summary.lastSeq = rec->last_seq;
    out->repairs = std::move(rec->repairs);
    out->open_tool_calls = std::move(rec->open_tool_calls);
    out->dir = root->path() + "/" + id;
    return std::unique_ptr<detail::RunStorage>(new FileConversationStorage(*root, id, std::move(files)));
  }

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
  std::shared_ptr<Fs> fs_;
  std::string conv_root_path_;
  std::mutex conv_mu_;
  std::unique_ptr<Dir> conv_root_;  // guarded by conv_mu_ until set; never reset
  std::unique_ptr<Journal> journal_;  // null: Options::journal off
};

}  // namespace

std::unique_ptr<detail::Storage> file_storage(std::unique_ptr<Dir> runs_root, LayoutOptions layout,
                                              std::shared_ptr<Fs> fs, std::string conversations_root,
                                              std::unique_ptr<Journal> journal) {
  return std::make_unique<FileStorage>(std::move(runs_root), layout, std::move(fs), std::move(conversations_root),
                                       std::move(journal));
}

}  // namespace io
}  // namespace runlog
