// io/verify_repair.cpp — --repair: recovery's own plan, applied (open_run_dir
// for a run, plan_recovery for a conversation, plan_single_file for a file
// given alone). Corruption is never rewritten.
#include "io/verify_internal.h"

#include "core/ids.h"

namespace runlog::io::verify_detail {


void Verifier::repair(StreamCheck& s, JobResult* out) {
  Job& job = *s.job;
  // Drop our descriptors first: recovery takes the writer's lock itself.
  for (FileCheck& f : s.files) f.handles.clear();
  s.dir.reset();
  if (job.type == StreamType::run) {
    std::string task, run, parent;
    std::string runs_root;
    if (job.comps.size() >= 2) {
      runs_root = job.root;
      for (std::size_t i = 0; i + 2 < job.comps.size(); ++i) runs_root = join_path(runs_root, job.comps[i]);
      task = job.comps[job.comps.size() - 2];
      run = job.comps.back();
    } else if (!real_names(job.path, &run, &task, &runs_root)) {
      out->repairs.push_back(job.path + ": not repaired: cannot resolve its path");
      return;
    }
    if (!is_valid_id(task) || !is_valid_id(run)) {
      out->repairs.push_back(job.path + ": not repaired: its folder names are not valid ids");
      return;
    }
    std::unique_ptr<Dir> root;
    Status st = fs_->open_root(runs_root, false, 0).get(root);
    RunMetadata meta;
    meta.taskId = task;
    meta.runId = run;
    RunFiles files;
    Result<RecoveredRun> rec = st.ok() ? open_run_dir(*root, meta, LayoutOptions{}, &files) : Result<RecoveredRun>(st);
    if (!rec.ok()) {
      out->repairs.push_back(job.path + ": not repaired: " + rec.status().to_string());
      return;
    }
    for (const std::string& r : rec->repairs) out->repairs.push_back(join_path(job.path, r));
    files.close();
    s.repaired = true;
    return;
  }
  // A conversation or a single file: cut the torn tail of its one file, under
  // the writer's lock when the folder has a durable.seq.
  std::unique_ptr<Dir> dir;
  if (Status st = job.type == StreamType::file ? fs_->open_root(job.root, false, 0).get(dir)
                                               : open_stream_dir(job, &dir);
      !st.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + st.to_string());
    return;
  }
  std::unique_ptr<File> lock;
  if (Status st = dir->open_file(kDurableFile, OpenMode::read_write, 0).get(lock); st.ok()) {
    if (Status l = lock->lock_exclusive(); !l.ok()) {
      out->repairs.push_back(job.path + ": not repaired: " + l.to_string());
      return;
    }
  }
  const std::string name = job.type == StreamType::file ? job.file_name : std::string(kChunksFile);
  std::unique_ptr<File> file;
  if (Status st = dir->open_file(name, OpenMode::read_write, 0).get(file); !st.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + st.to_string());
    return;
  }
  // Recovery's own plan, with the stream's floor: the same cuts opening it would make.
  std::uint64_t floor = 0;
  if (job.type != StreamType::file) {
    if (Status st = read_floor(*dir, lock.get()).get(floor); !st.ok()) {
      out->repairs.push_back(job.path + ": not repaired: " + st.to_string());
      return;
    }
  }
  File* files[1] = {file.get()};
  RecoveryPlan plan;
  Status planned = job.type == StreamType::file ? plan_single_file(*file).get(plan) : plan_recovery(files, floor).get(plan);
  if (!planned.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + planned.to_string());
    return;
  }
  std::vector<std::string> cuts;
  if (Status a = apply_recovery_plan(files, plan, &cuts); !a.ok()) {
    out->repairs.push_back(job.path + ": not repaired: " + a.to_string());
    return;
  }
  for (const std::string& c : cuts) out->repairs.push_back(join_path(dir->path(), c));
  s.repaired = true;
}

// The task and run folder names of a run, for meta.json's ids.

}  // namespace runlog::io::verify_detail
