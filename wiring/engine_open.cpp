// wiring/engine_open.cpp — Engine::open(): the one function that knows both
// layers. It opens the runs root, makes the file-backed Storage (io/) and
// hands it to the engine (core/), which starts the sequencer and the sync
// pool. core/ talks to files only through core/storage.h; io/ knows nothing
// of queues or threads; this file sits above both.
#include <algorithm>
#include <memory>
#include <utility>

#include "core/engine_internal.h"
#include "io/file_storage.h"
#include "io/fs.h"
#include "io/journal.h"
#include "io/run_dir.h"
#include "runlog/engine.h"

namespace runlog {

// Thread: any user thread.
Result<std::unique_ptr<Engine>> Engine::open(Options options) {
  RUNLOG_RETURN_IF_ERROR(validate_options(options));
  if (!options.fs) options.fs = io::posix_fs();
  auto root = options.fs->open_root(options.runsRoot, true, options.dirMode);
  if (!root.ok()) return root.status();
  io::LayoutOptions layout{options.dirMode, options.fileMode};
  // A journal left by an engine that stopped (a crash, a power loss) is
  // finished before any run under this root is recovered or written.
  RUNLOG_RETURN_IF_ERROR(io::finish_journals(*root.value()));
  std::unique_ptr<io::Journal> journal;
  if (options.journal && options.durability == Durability::batch) {
    RUNLOG_RETURN_IF_ERROR(io::Journal::open(*root.value(), layout).get(journal));
    journal->set_limit(options.journalFileBytes);
    journal->set_checkpoint_interval(std::min<std::uint64_t>(std::uint64_t{16} << 20, options.journalFileBytes / 4));
  }
  auto storage =
      io::file_storage(std::move(root).value(), layout, options.fs, options.conversationsRoot, std::move(journal));
  auto core = std::make_unique<detail::EngineCore>(std::move(options), std::move(storage));
  return std::unique_ptr<Engine>(new Engine(std::move(core)));
}

}  // namespace runlog
