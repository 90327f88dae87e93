// io/verify_prepare.cpp — a stream before its logs are scanned: is a writer
// holding it, its state.json, durable.seq and meta.json (in that order: a live
// writer only moves forward), how far to check, and its log files cut into
// segments the workers share.
#include "io/verify_internal.h"

#include <cstring>

namespace runlog::io::verify_detail {

namespace {

// Reads a small file whole; *present = false when it does not exist.
Status read_small(Dir& dir, std::string_view name, std::string* text, bool* present) {
  *present = false;
  Status st = read_file(dir, name).get(*text);
  if (st.code() == Errc::not_found) return Status::OK();
  *present = true;
  return st;
}

std::string strip_prefix(const std::string& msg, std::string_view prefix) {
  if (msg.compare(0, prefix.size(), prefix) == 0) return msg.substr(prefix.size());
  return msg;
}

// Offsets where a file can be cut into segments: line starts near each
// multiple of kSegmentBytes.
std::vector<std::uint64_t> segment_starts(File& f, std::uint64_t size) {
  std::vector<std::uint64_t> starts = {0};
  std::vector<char> win(std::size_t{64} << 10);
  for (std::uint64_t at = kSegmentBytes; at + kSegmentBytes / 2 < size; at += kSegmentBytes) {
    if (at <= starts.back()) continue;
    std::uint64_t pos = at - 1;
    bool found = false;
    while (pos < size && !found) {
      std::size_t got = 0;
      if (!f.pread(win.data(), win.size(), pos, &got).ok() || got == 0) break;
      const char* nl = static_cast<const char*>(std::memchr(win.data(), '\n', got));
      if (nl != nullptr) {
        const std::uint64_t start = pos + static_cast<std::uint64_t>(nl - win.data()) + 1;
        if (start < size) starts.push_back(start);
        found = true;
      }
      pos += got;
    }
    if (!found) break;
  }
  return starts;
}


}  // namespace

void Verifier::prepare(StreamCheck& s, bool split) {
  Job& job = *s.job;
  auto add = [&](std::string file, std::uint64_t offset, std::string what) {
    s.problems.push_back({std::move(file), offset, std::move(what)});
  };
  if (Status st = open_stream_dir(job, &s.dir); !st.ok()) {
    add(job.path, 0, "cannot open: " + st.to_string());
    return;
  }
  Dir& dir = *s.dir;

  // 1. state.json, before durable.seq and the logs (a live writer only moves forward).
  if (job.type != StreamType::conversation) {
    std::string text;
    bool present = false;
    Status st = read_small(dir, kStateFile, &text, &present);
    s.state_present = present;
    if (present && !st.ok()) {
      s.state_error = st.code() == Errc::refused ? st.message() : "cannot read: " + st.to_string();
    } else if (present) {
      Result<RunStateSnapshot> parsed = state_from_json(text);
      if (parsed.ok()) s.state = std::move(parsed).value();
      else s.state_error = strip_prefix(parsed.status().message(), "state.json: ");
    }
  }

  // 2. durable.seq: live when a writer holds its lock; the watermark.
  DurableMark mark;
  if (Status dst = read_durable_mark(dir).get(mark); !dst.ok()) {
    if (job.type != StreamType::file)
      add(join_path(job.path, kDurableFile), 0, dst.code() == Errc::refused ? dst.message() : "cannot open: " + dst.to_string());
  }
  s.durable_present = mark.present;
  s.live = mark.live;
  if (mark.present) {
    s.durable_text = mark.text;
    s.durable = mark.seq;
  }

  // 3. meta.json (runs).
  if (job.type == StreamType::run) {
    std::string text;
    bool present = false;
    Status st = read_small(dir, kMetaFile, &text, &present);
    s.meta.present = present;
    if (present && !st.ok()) {
      s.meta_error = st.code() == Errc::refused ? st.message() : "cannot read: " + st.to_string();
    } else if (present) {
      Result<RunMetadata> parsed = meta_from_json(text);
      if (parsed.ok()) {
        s.meta.meta = std::move(parsed).value();
        s.meta.ok = true;
      } else {
        s.meta_error = strip_prefix(parsed.status().message(), "meta.json: ");
      }
    }
  }

  // How far to check: a live stream up to what its writer declared durable.
  if (s.live) {
    std::uint64_t c = s.durable.value_or(0);
    if (s.state) c = std::max(c, s.state->lastEventSeq);
    s.limit = c;
  }
  // The replay of lifecycle events up to state.json's lastEventSeq.
  if (job.type == StreamType::run) {
    RunStateSnapshot init;
    init.status = RunStatus::prepared;
    s.replay.state = init;
    s.replay.to = s.state ? s.state->lastEventSeq : 0;
  }

  // 4. The log files.
  std::vector<std::string> names;
  if (job.type == StreamType::run) names = {"worker.jsonl", "stdout.jsonl", "stderr.jsonl"};
  else if (job.type == StreamType::conversation) names = {std::string(kChunksFile)};
  else names = {job.file_name};
  s.files.resize(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    FileCheck& f = s.files[i];
    f.name = names[i];
    f.path = join_path(job.type == StreamType::file ? dir.path() : job.path, f.name);
    f.kind = kind_of_file(f.name);
    std::unique_ptr<File> first;
    Status st = dir.open_file(f.name, OpenMode::read_only, 0).get(first);
    if (!st.ok()) {
      if (st.code() == Errc::not_found) {
        if (!s.live && job.type == StreamType::run) add(f.path, 0, "missing");
      } else {
        add(f.path, 0, st.code() == Errc::refused ? st.message() : "cannot open: " + st.to_string());
      }
      continue;
    }
    f.present = true;
    std::uint64_t size = 0;
    if (Status sz = first->size().get(size); !sz.ok()) {
      add(f.path, 0, "cannot read: " + sz.to_string());
      f.present = false;
      continue;
    }
    std::vector<std::uint64_t> starts = {0};
    if (split && !s.live && f.kind != Kind::worker && size >= 2 * kSegmentBytes) starts = segment_starts(*first, size);
    f.segs.resize(starts.size());
    f.tasks.resize(starts.size());
    f.handles.push_back(std::move(first));
    for (std::size_t k = 1; k < starts.size(); ++k) {
      std::unique_ptr<File> h;
      if (!dir.open_file(f.name, OpenMode::read_only, 0).get(h).ok()) {
        starts.resize(k);  // fewer segments, the last one longer
        f.segs.resize(k);
        f.tasks.resize(k);
        break;
      }
      f.handles.push_back(std::move(h));
    }
    for (std::size_t k = 0; k < starts.size(); ++k) {
      ScanTask& t = f.tasks[k];
      t.file = f.handles[k].get();
      t.path = f.path;
      t.kind = f.kind;
      t.begin = starts[k];
      t.to_eof = k + 1 == starts.size() && s.live;
      t.end = k + 1 < starts.size() ? starts[k + 1] : size;
      t.limit = s.limit;
      t.replay = (f.kind == Kind::worker && job.type == StreamType::run) ? &s.replay : nullptr;
      t.max_problems = opts_.max_problems_per_file;
      t.out = &f.segs[k];
    }
  }
}


}  // namespace runlog::io::verify_detail
