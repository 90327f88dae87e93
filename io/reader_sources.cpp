// io/reader_sources.cpp — the streams a path names: find_sources(), the
// conversation kind's Source and is_conversation_dir(), Source::path(). See
// io/reader.h.
#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "io/reader.h"

namespace runlog::io {
namespace {

constexpr const char* kChunksFile = "chunks.jsonl";

}  // namespace

std::string Source::path() const {
  if (kind == SourceKind::file) return dir.empty() || dir.back() == '/' ? dir + file : dir + "/" + file;
  return dir;
}

namespace {

// Whether a folder holds a run. A conversation folder (chunks.jsonl) is not
// one (it is a SourceKind::conversation); a folder that holds both a
// conversation and a run's own files is an error, never a hidden run.
Result<bool> is_run_dir(Dir& d) {
  bool conversation = false;
  RUNLOG_RETURN_IF_ERROR(d.exists("chunks.jsonl").get(conversation));
  static constexpr const char* kRunFiles[] = {"meta.json", "state.json", "worker.jsonl", "stdout.jsonl", "stderr.jsonl"};
  for (const char* m : kRunFiles) {
    bool e = false;
    RUNLOG_RETURN_IF_ERROR(d.exists(m).get(e));
    if (!e) continue;
    if (conversation)
      return Status::Corruption(d.path() + ": holds both a conversation (chunks.jsonl) and a run (" + m +
                                "); which one it is cannot be told");
    return true;
  }
  if (conversation) return false;
  bool durable = false;
  RUNLOG_RETURN_IF_ERROR(d.exists("durable.seq").get(durable));
  return durable;
}

std::string join_path(const std::string& a, const std::string& b) {
  return a.empty() || a.back() == '/' ? a + b : a + "/" + b;
}

// Calls fn(name, dir) for each sub-folder of d in name order, one open at a
// time (descriptors stay bounded whatever the number of runs). Entries that
// are not folders, symlinks included, are skipped; a folder that cannot be
// listed or opened is an error naming it.
template <class Fn>
Status for_each_sub_dir(Dir& d, Fn&& fn) {
  std::vector<std::string> names;
  if (Status st = d.list().get(names); !st.ok())
    return Status(st.code(), st.sys_errno(), "cannot list " + d.path() + ": " + st.message());
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::unique_ptr<Dir> sub;
    Status st = d.open_dir(n, false, 0).get(sub);
    if (st.code() == Errc::refused || st.code() == Errc::not_found) continue;  // not a folder, or gone
    if (!st.ok()) return st;
    RUNLOG_RETURN_IF_ERROR(fn(n, *sub));
  }
  return Status::OK();
}

}  // namespace

Source conversation_source(std::string dir) {
  Source s;
  s.kind = SourceKind::conversation;
  s.dir = std::move(dir);
  s.file = kChunksFile;
  return s;
}

bool is_conversation_dir(const std::string& path, Fs* fs) {
  std::shared_ptr<Fs> owned;
  if (fs == nullptr) fs = (owned = posix_fs()).get();
  auto dir = fs->open_root(path, false, 0);
  if (!dir.ok()) return false;
  auto has = dir.value()->exists(kChunksFile);
  if (!has.ok() || !has.value()) return false;
  // A folder that holds a run's files too is no conversation: find_sources()
  // names it as an error instead of hiding the run.
  auto run = is_run_dir(*dir.value());
  return run.ok() && !run.value();
}

Result<std::vector<Source>> find_sources(const std::string& path, Fs* fs) {
  std::shared_ptr<Fs> owned;
  if (!fs) {
    owned = posix_fs();
    fs = owned.get();
  }
  std::vector<Source> out;
  Result<std::unique_ptr<Dir>> root = fs->open_root(path, false, 0);
  if (!root.ok()) {
    if (root.status().sys_errno() != ENOTDIR) return root.status();
    // A file: its folder holds the context (meta.json, durable.seq) if any.
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const std::size_t slash = p.rfind('/');
    Source s;
    s.kind = SourceKind::file;
    s.dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
    s.file = slash == std::string::npos ? p : p.substr(slash + 1);
    out.push_back(std::move(s));
    return out;
  }
  Dir& d = *root.value();
  auto run_source = [](std::string dir) {
    Source s;
    s.kind = SourceKind::run;
    s.dir = std::move(dir);
    return s;
  };
  bool run = false;
  RUNLOG_RETURN_IF_ERROR(is_run_dir(d).get(run));
  if (run) {
    out.push_back(run_source(path));
    return out;
  }
  bool conversation = false;
  RUNLOG_RETURN_IF_ERROR(d.exists(kChunksFile).get(conversation));
  if (conversation) {  // (is_run_dir() said it holds none of a run's files)
    out.push_back(conversation_source(path));
    return out;
  }
  // A task folder (runs below it), or a runs root (tasks, then runs).
  bool task_folder = false;
  std::vector<std::string> tasks;
  Status listed = for_each_sub_dir(d, [&](const std::string& name, Dir& sub) -> Status {
    bool is_run = false;
    RUNLOG_RETURN_IF_ERROR(is_run_dir(sub).get(is_run));
    if (is_run) {
      task_folder = true;
      out.push_back(run_source(join_path(path, name)));
    } else {
      tasks.push_back(name);
    }
    return Status::OK();
  });
  if (!listed.ok()) return listed;
  if (task_folder) return out;
  for (const std::string& task : tasks) {
    std::unique_ptr<Dir> sub;
    RUNLOG_RETURN_IF_ERROR(d.open_dir(task, false, 0).get(sub));
    Status runs = for_each_sub_dir(*sub, [&](const std::string& run_name, Dir& rd) -> Status {
      bool is_run = false;
      RUNLOG_RETURN_IF_ERROR(is_run_dir(rd).get(is_run));
      if (is_run) out.push_back(run_source(join_path(join_path(path, task), run_name)));
      return Status::OK();
    });
    if (!runs.ok()) return runs;
  }
  return out;
}

}  // namespace runlog::io
