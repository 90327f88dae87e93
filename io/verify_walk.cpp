// io/verify_walk.cpp — which streams lie below the paths given to verify:
// runs, conversations, single .jsonl files; symbolic links reported, never
// followed.
#include "io/journal.h"
#include "io/verify_internal.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace runlog::io::verify_detail {

// Names from a real path: the folder of `path` and its parent.
bool real_names(const std::string& path, std::string* self, std::string* parent, std::string* grandparent_path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return false;
  std::string real(buf);
  *self = base_name(real);
  std::string up = dir_name(real);
  *parent = base_name(up);
  *grandparent_path = dir_name(up);
  return true;
}

namespace {

bool has_any(const std::vector<std::string>& names, std::span<const std::string_view> want) {
  for (std::string_view w : want)
    if (std::binary_search(names.begin(), names.end(), std::string(w))) return true;
  return false;
}

constexpr std::string_view kRunFiles[] = {"meta.json",    "state.json",   "durable.seq",
                                          "worker.jsonl", "stdout.jsonl", "stderr.jsonl"};
constexpr std::string_view kConversationFiles[] = {kChunksFile};

}  // namespace


std::uint64_t Verifier::stat_bytes(const std::string& folder, std::initializer_list<std::string_view> names) {
  if (!opts_.progress) return 0;
  std::uint64_t n = 0;
  for (std::string_view name : names) {
    struct stat st;
    if (::lstat(join_path(folder, name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
      n += static_cast<std::uint64_t>(st.st_size);
  }
  return n;
}

// Below a path given as a folder: a stream folder is a run (it holds any of
// the run files) or a conversation (chunks.jsonl); other folders are
// descended into, down to <root>/<task>/<run>.
// Symbolic links anywhere below a stream folder (artifacts/, checkpoints/…):
// never followed, each one a problem. Real paths only (lstat); a folder that
// cannot be read here is left to the checks that read it.
void report_symlinks(const std::string& folder, int depth, std::vector<VerifyProblem>* out) {
  std::error_code ec;
  std::filesystem::directory_iterator it(folder, ec), end;
  std::vector<std::string> names;
  for (; !ec && it != end; it.increment(ec)) names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  static constexpr std::string_view kStreamFiles[] = {"meta.json",    "state.json",   "worker.jsonl", "stdout.jsonl",
                                                      "stderr.jsonl", "durable.seq",  "chunks.jsonl"};
  for (const std::string& n : names) {
    // The stream's own files are opened (and a link refused) by its checks.
    if (depth == 0 && std::find(std::begin(kStreamFiles), std::end(kStreamFiles), n) != std::end(kStreamFiles))
      continue;
    const std::string p = join_path(folder, n);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode))
      out->push_back({p, 0, "is a symbolic link (not followed, not checked)"});
    else if (S_ISDIR(st.st_mode) && depth < 16)
      report_symlinks(p, depth + 1, out);
  }
}

void Verifier::walk_folder(const std::string& root, Dir& dir, std::vector<std::string>& comps, int depth) {
  std::vector<std::string> names;
  if (Status st = dir.list().get(names); !st.ok()) {
    walk_problems_.push_back({dir.path(), 0, "cannot list: " + st.to_string()});
    return;
  }
  std::sort(names.begin(), names.end());
  // chunks.jsonl makes a conversation, even beside durable.seq (which both kinds have).
  const bool is_conversation = has_any(names, kConversationFiles);
  const bool is_run = !is_conversation && has_any(names, kRunFiles);
  if (is_run || (depth == 2 && !is_conversation)) {
    Job j;
    j.type = StreamType::run;
    j.root = root;
    j.comps = comps;
    j.path = dir.path();
    j.bytes = stat_bytes(j.path, {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"});
    if (posix_) report_symlinks(j.path, 0, &walk_problems_);
    jobs_.push_back(std::move(j));
    return;
  }
  if (is_conversation) {
    Job j;
    j.type = StreamType::conversation;
    j.root = root;
    j.comps = comps;
    j.path = dir.path();
    j.bytes = stat_bytes(j.path, {kChunksFile});
    if (posix_) report_symlinks(j.path, 0, &walk_problems_);
    jobs_.push_back(std::move(j));
    return;
  }
  if (depth >= 2) return;
  for (const std::string& name : names) {
    std::unique_ptr<Dir> sub;
    Status st = dir.open_dir(name, false, 0).get(sub);
    if (!st.ok()) {
      struct stat ls;
      const std::string p = join_path(dir.path(), name);
      const bool link = posix_ && ::lstat(p.c_str(), &ls) == 0 && S_ISLNK(ls.st_mode);
      if (!link && st.code() == Errc::refused && st.sys_errno() == ENOTDIR) continue;  // a file: not ours
      if (link) {
        walk_problems_.push_back({p, 0, "is a symbolic link (not followed, not checked)"});
        continue;
      }
      walk_problems_.push_back({join_path(dir.path(), name), 0,
                                st.code() == Errc::refused ? st.message() + " (not followed, not checked)"
                                                           : "cannot open: " + st.to_string()});
      continue;
    }
    comps.push_back(name);
    walk_folder(root, *sub, comps, depth + 1);
    comps.pop_back();
  }
}

Status Verifier::discover(const std::string& path) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0)
    return Status::Invalid(path + ": " + (path.empty() ? "empty path" : std::strerror(errno)));
  // Acknowledged bytes that a stopped writer's journal holds go into their
  // files before any verdict (io/journal.h).
  RUNLOG_RETURN_IF_ERROR(finish_journals_above(*fs_, S_ISREG(st.st_mode) ? dir_name(path) : path));
  if (S_ISREG(st.st_mode)) {
    if (path.size() < 6 || path.substr(path.size() - 6) != ".jsonl")
      return Status::Invalid(path + ": not a .jsonl file, a run folder or a runs root");
    Job j;
    j.type = StreamType::file;
    j.root = dir_name(path);
    j.file_name = base_name(path);
    j.path = join_path(j.root, j.file_name);
    j.bytes = static_cast<std::uint64_t>(st.st_size);
    jobs_.push_back(std::move(j));
    return Status::OK();
  }
  if (!S_ISDIR(st.st_mode)) return Status::Invalid(path + ": not a folder or a .jsonl file");
  std::unique_ptr<Dir> dir;
  RUNLOG_RETURN_IF_ERROR(fs_->open_root(path, false, 0).get(dir));
  std::vector<std::string> comps;
  walk_folder(dir->path(), *dir, comps, 0);
  return Status::OK();
}

Status Verifier::open_stream_dir(const Job& job, std::unique_ptr<Dir>* out) {
  std::unique_ptr<Dir> d;
  RUNLOG_RETURN_IF_ERROR(fs_->open_root(job.root, false, 0).get(d));
  for (const std::string& c : job.comps) {
    std::unique_ptr<Dir> sub;
    RUNLOG_RETURN_IF_ERROR(d->open_dir(c, false, 0).get(sub));
    d = std::move(sub);
  }
  *out = std::move(d);
  return Status::OK();
}

// Reads a small file whole; *present = false when it does not exist.

}  // namespace runlog::io::verify_detail
