// io/file_storage.h — the engine's Storage (core/storage.h) over the
// file-system seam: run folders under the runs root, conversation folders
// under the conversations root (opened, and made, on first use).
#pragma once

#include <memory>
#include <string>

#include "core/storage.h"
#include "io/fs.h"
#include "io/journal.h"
#include "io/run_dir.h"

namespace runlog::io {

/// Any thread (Engine::open). The Storage owns `runs_root` and `journal`
/// (null: each wave syncs the run files it wrote).
std::unique_ptr<detail::Storage> file_storage(std::unique_ptr<Dir> runs_root, LayoutOptions layout,
                                              std::shared_ptr<Fs> fs, std::string conversations_root,
                                              std::unique_ptr<Journal> journal = nullptr);

}  // namespace runlog::io
