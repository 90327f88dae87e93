// io/verify.cpp — `runlog verify` as a library (see io/verify.h, docs/verify.md):
// the pool of workers over streams and segments, and the report.
//
// The work, per stream (a run, a conversation or a single file):
//   1. prepare (verify_prepare.cpp): open the files, read state.json, then
//      durable.seq (is a writer holding it?) and meta.json (in that order: a
//      live writer only moves forward), decide how far to check (everything,
//      or up to the durable watermark of a live run), and cut big files into
//      segments;
//   2. scan each segment (verify_scan.cpp, verify_record.cpp): pread in big
//      blocks, split lines, judge each by the record rule (check_record_line,
//      io/scanner.h), then check the content of runs of valid lines with one
//      simdjson On-Demand iterate_many per span; damaged lines are collected
//      as regions, seqs summed into a set hash;
//   3. finalize (verify_verdict.cpp, whichever worker ends the last segment):
//      stitch the segments, judge a damaged tail with the scanner
//      (scan_channel), compare the set hash with 1..N (an exact merge only
//      when it differs), take the one decision (decide()) with the floor W,
//      check meta.json / state.json / durable.seq against the log
//      (verify_run_checks.cpp), and, with --repair (verify_repair.cpp), apply
//      recovery's own plan, then check the stream once more.
#include "io/verify.h"

#include <algorithm>
#include <thread>

#include "io/verify_internal.h"

namespace runlog::io::verify_detail {

void init_ids(StreamCheck& s) {
  const Job& job = *s.job;
  if (job.type != StreamType::run) return;
  if (job.comps.size() >= 2) {
    s.task_id = job.comps[job.comps.size() - 2];
    s.run_id = job.comps.back();
  } else {
    std::string gp;
    if (!real_names(job.path, &s.run_id, &s.task_id, &gp)) s.task_id = s.run_id = "";
  }
}

// Prepare, scan and finalize one stream on this thread (small streams, and
// the check after a repair).
void Verifier::check_inline(Job& job, Scanner& scanner, JobResult* out) {
  StreamCheck s;
  s.job = &job;
  init_ids(s);
  prepare(s, false);
  for (FileCheck& f : s.files)
    for (ScanTask& t : f.tasks) scanner.scan(t);
  finalize(s, out, false);
}

void Verifier::start_job(std::size_t j, Scanner& scanner) {
  StreamCheck& s = *checks_[j];
  s.job = &jobs_[j];
  init_ids(s);
  prepare(s, true);
  // Segments past the first of each file go to the pool; the first ones are done here.
  std::vector<Task> mine, theirs;
  for (std::size_t fi = 0; fi < s.files.size(); ++fi)
    for (std::size_t k = 0; k < s.files[fi].tasks.size(); ++k) (k == 0 ? mine : theirs).push_back({j, fi, k});
  s.pending.store(static_cast<int>(mine.size() + theirs.size()) + 1);
  if (!theirs.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = theirs.rbegin(); it != theirs.rend(); ++it) parts_.push_front(*it);
    cv_.notify_all();
  }
  for (const Task& t : mine) {
    scanner.scan(s.files[t.file].tasks[t.seg]);
    s.pending.fetch_sub(1);
  }
  segment_done(j, scanner);
}

void Verifier::segment_done(std::size_t j, Scanner& scanner) {
  StreamCheck& s = *checks_[j];
  if (s.pending.fetch_sub(1) != 1) return;
  JobResult& out = results_[j];
  finalize(s, &out, true);
  if (s.repaired) {
    // Check again what recovery left.
    std::vector<std::string> repairs = std::move(out.repairs);
    for (FileCheck& f : s.files) f.handles.clear();
    s.dir.reset();
    out = JobResult{};
    check_inline(*s.job, scanner, &out);
    out.repairs = std::move(repairs);
  }
  checks_[j].reset();  // descriptors and segment results go now
  streams_done_.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_;
  cv_.notify_all();
}

void Verifier::worker_loop(Scanner& scanner) {
  for (;;) {
    Task part{};
    bool have_part = false;
    std::size_t job = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !parts_.empty() || next_job_ < jobs_.size() || finished_ == jobs_.size(); });
      if (!parts_.empty()) {
        part = parts_.front();
        parts_.pop_front();
        have_part = true;
      } else if (next_job_ < jobs_.size()) {
        job = next_job_++;
      } else {
        return;
      }
    }
    if (have_part) {
      StreamCheck& s = *checks_[part.job];
      scanner.scan(s.files[part.file].tasks[part.seg]);
      segment_done(part.job, scanner);
    } else {
      start_job(job, scanner);
    }
  }
}

Result<VerifyReport> Verifier::run() {
  const auto t0 = Clock::now();
  VerifyReport report;
  checks_.resize(jobs_.size());
  for (auto& c : checks_) c = std::make_unique<StreamCheck>();
  results_.resize(jobs_.size());
  std::uint64_t total_bytes = 0;
  for (const Job& j : jobs_) total_bytes += j.bytes;

  const unsigned n = std::max(1u, std::min<unsigned>(opts_.threads, 64));
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i)
    threads.emplace_back([this] {
      Scanner scanner(&bytes_done_);
      worker_loop(scanner);
    });
  if (opts_.progress) {
    std::unique_lock<std::mutex> lock(mu_);
    while (finished_ < jobs_.size()) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (finished_ == jobs_.size()) break;
      VerifyProgress p;
      p.streams_done = streams_done_.load();
      p.streams_total = jobs_.size();
      p.bytes_done = bytes_done_.load();
      p.bytes_total = std::max(total_bytes, p.bytes_done);
      p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      lock.unlock();
      opts_.progress(p);
      lock.lock();
    }
  }
  for (auto& t : threads) t.join();

  report.problems = std::move(walk_problems_);
  for (std::size_t j = 0; j < jobs_.size(); ++j) {
    JobResult& r = results_[j];
    for (VerifyProblem& p : r.problems) report.problems.push_back(std::move(p));
    for (std::string& s : r.repairs) report.repairs.push_back(std::move(s));
    for (std::string& s : r.warnings) report.warnings.push_back(std::move(s));
    report.records += r.records;
    report.bytes += r.bytes;
    if (r.live) ++report.live;
    if (r.unclosed) ++report.unclosed;
    switch (jobs_[j].type) {
      case StreamType::run: ++report.runs; break;
      case StreamType::conversation: ++report.conversations; break;
      case StreamType::file: ++report.files; break;
    }
  }
  std::sort(report.warnings.begin(), report.warnings.end());
  std::sort(report.problems.begin(), report.problems.end(), [](const VerifyProblem& a, const VerifyProblem& b) {
    if (a.file != b.file) return a.file < b.file;
    if (a.offset != b.offset) return a.offset < b.offset;
    return a.what < b.what;
  });
  report.problems.erase(std::unique(report.problems.begin(), report.problems.end(),
                                    [](const VerifyProblem& a, const VerifyProblem& b) {
                                      return a.file == b.file && a.offset == b.offset && a.what == b.what;
                                    }),
                        report.problems.end());
  std::sort(report.repairs.begin(), report.repairs.end());
  report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return report;
}


}  // namespace runlog::io::verify_detail

namespace runlog::io {

std::string VerifyProblem::to_string() const { return file + ":" + std::to_string(offset) + ": " + what; }

Result<VerifyReport> verify(std::span<const std::string> paths, const VerifyOptions& options) {
  std::shared_ptr<Fs> fs = options.fs ? options.fs : posix_fs();
  verify_detail::Verifier v(options, fs);
  for (const std::string& p : paths) RUNLOG_RETURN_IF_ERROR(v.discover(p));
  return v.run();
}

}  // namespace runlog::io
