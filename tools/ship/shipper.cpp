// tools/ship/shipper.cpp — the shipping loop of `runlog ship` (shipper.h).
#include "tools/ship/shipper.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "io/reader.h"
#include "tools/ship/subject.h"

namespace runlog::ship {
namespace {

using Clock = std::chrono::steady_clock;

// One run or conversation and how far it is shipped.
struct Tracked {
  bool conv = false;
  std::string a, b;  // taskId and runId, or the conversation id in a
  io::Source src;
  std::array<std::string, kRunChannels> subjects;
  std::array<std::uint64_t, kRunChannels> last{};  // the last Runlog-Seq sent, per subject
  std::string end_subject;  // a run's end marker
  bool end_shipped = false;  // the stream holds the end marker
  bool synced = false;      // `last` came from the stream since the last failure
  bool maybe_done = false;  // read to its end (and finished, under --follow): done at the next clean drain
  bool done = false;        // nothing more to ship, everything acknowledged
  bool broken = false;      // a read error: left alone (reported once)
  std::unique_ptr<io::LogReader> reader;  // --follow: kept open between polls
  struct ::stat seen {};    // a conversation's chunks.jsonl and durable.seq as last read
  struct ::stat seen_durable {};
};

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// The conversation folders directly below `root`, sorted.
std::vector<std::string> conversation_dirs(const std::string& root) {
  std::vector<std::string> out;
  auto dir = io::posix_fs()->open_root(root, false, 0);
  if (!dir.ok()) return out;
  std::vector<std::string> names;
  if (!dir.value()->list().get(names).ok()) return out;
  std::sort(names.begin(), names.end());
  for (const std::string& n : names)
    if (io::is_conversation_dir(root + "/" + n)) out.push_back(root + "/" + n);
  return out;
}

bool same_file_state(const struct ::stat& a, const struct ::stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ino == b.st_ino;
}

class Loop {
 public:
  Loop(const ShipOptions& options, NatsLink& link, ShipStats& stats) : o_(options), link_(link), stats_(stats) {}

  void scan() {
    if (!o_.runs_root.empty()) {
      std::vector<io::Source> sources;
      if (Status st = io::find_sources(o_.runs_root).get(sources); !st.ok()) {
        if (st.code() != Errc::not_found) note_once("runs root", st);
      }
      for (io::Source& src : sources) {
        if (src.kind != io::SourceKind::run || all_.count(src.dir)) continue;
        Tracked t;
        t.a = base_name(parent_of(src.dir));
        t.b = base_name(src.dir);
        for (int c = 0; c < kRunChannels; ++c) t.subjects[c] = run_subject(t.a, t.b, static_cast<Channel>(c));
        t.end_subject = run_subject_end(t.a, t.b);
        t.src = src;
        all_.emplace(src.dir, std::move(t));
        ++stats_.runs;
      }
    }
    if (!o_.conversations_root.empty()) {
      for (const std::string& dir : conversation_dirs(o_.conversations_root)) {
        if (all_.count(dir)) continue;
        Tracked t;
        t.conv = true;
        t.a = base_name(dir);
        t.subjects[0] = conv_subject(t.a);
        t.src.dir = dir;
        all_.emplace(dir, std::move(t));
        ++stats_.conversations;
      }
    }
  }

  // Ships what each stream has now. *stopped: the link stopped the line.
  void pass(volatile std::sig_atomic_t* stop, bool* stopped, Status* fatal) {
    if (Status st = resync_all(); !st.ok()) {
      *fatal = st;
      return;
    }
    for (auto& [dir, t] : all_) {
      if (t.done || t.broken || t.maybe_done) continue;
      if (*stop) return;
      if (!t.synced) {
        if (Status st = resync(t); !st.ok()) {
          *fatal = st;
          return;
        }
        if (t.done) continue;
      }
      Status st = t.conv ? ship_conv(t, stopped) : ship_run(t, stopped);
      if (!st.ok()) {
        fmt::print(stderr, "runlog ship: {}: {} (left out; the others go on)\n", dir, st.to_string());
        t.broken = true;
        t.reader.reset();
        if (first_error_.ok()) first_error_ = st;
      }
      if (*stopped) return;
    }
  }

  // After a clean drain: what was read to its end is done.
  void settle() {
    for (auto& [dir, t] : all_) {
      if (!t.maybe_done) continue;
      t.maybe_done = false;
      if (!o_.follow || !t.conv) {
        t.done = true;
        t.reader.reset();
      }
    }
  }

  // After a failure: every position is asked of the stream again.
  void forget() {
    for (auto& [dir, t] : all_) {
      if (t.done) continue;
      t.synced = false;
      t.maybe_done = false;
      t.reader.reset();
      t.seen = {};
      t.seen_durable = {};
    }
  }

  bool all_done() const {
    for (const auto& [dir, t] : all_)
      if (!t.done && !t.broken) return false;
    return true;
  }
  const Status& first_error() const { return first_error_; }

 private:
  // Asks the stream where every unsynced stream stands, kResyncThreads
  // questions at a time (each is a round trip to the stream's leader; a
  // restart over thousands of runs would otherwise wait for them one by one).
  // Each thread writes only the Tracked entries it took.
  Status resync_all() {
    std::vector<Tracked*> todo;
    for (auto& [dir, t] : all_)
      if (!t.synced && !t.done && !t.broken) todo.push_back(&t);
    if (todo.size() < 2) return Status::OK();
    constexpr std::size_t kResyncThreads = 8;
    std::vector<Status> errors(std::min(kResyncThreads, todo.size()));
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < errors.size(); ++w)
      threads.emplace_back([&, w] {
        for (std::size_t i = w; i < todo.size() && errors[w].ok(); i += errors.size()) errors[w] = resync(*todo[i]);
      });
    for (std::thread& th : threads) th.join();
    for (const Status& e : errors) RUNLOG_RETURN_IF_ERROR(e);
    return Status::OK();
  }

  // Any thread, one Tracked per thread at a time (NatsLink::last_seq is).
  Status resync(Tracked& t) {
    if (!t.conv) {
      // A run whose end marker is stored is shipped up to the marker's seq:
      // the marker is sent after the run's last record, and is never stored
      // after a failed record of its run (NatsLink::out_of_order). One
      // question instead of four; a run reopened since ships what it added.
      std::uint64_t end = 0;
      RUNLOG_RETURN_IF_ERROR(link_.last_seq(t.end_subject, &end, &t.end_shipped));
      if (t.end_shipped) {
        t.last.fill(end);
        t.synced = true;
        return Status::OK();
      }
    }
    const int n = t.conv ? 1 : kRunChannels;
    for (int c = 0; c < n; ++c) RUNLOG_RETURN_IF_ERROR(link_.last_seq(t.subjects[c], &t.last[c]));
    t.synced = true;
    return Status::OK();
  }

  bool send(const std::string& subject, std::uint64_t seq, bool* stopped) {
    if (!line_.empty() && line_.back() == '\n') line_.pop_back();
    if (!link_.publish(subject, id_, seq, line_)) {
      *stopped = true;
      return false;
    }
    ++stats_.published;
    return true;
  }

  Status ship_run(Tracked& t, bool* stopped) {
    if (!t.reader) {
      t.reader = std::make_unique<io::LogReader>();
      io::ReadFilter f;
      f.after = *std::min_element(t.last.begin(), t.last.end());
      RUNLOG_RETURN_IF_ERROR(t.reader->open(t.src, f));
    } else {
      RUNLOG_RETURN_IF_ERROR(t.reader->refresh());
    }
    const io::Entry* e = nullptr;
    Status st;
    while ((st = t.reader->next(&e)).ok() && e != nullptr) {
      const int c = static_cast<int>(e->channel());
      if (e->seq() <= t.last[c]) continue;
      line_.clear();
      io::append_jsonl(*e, t.reader->context(), &line_);
      id_.clear();
      fmt::format_to(std::back_inserter(id_), "run/{}/{}/{}", t.a, t.b, e->seq());
      if (!send(t.subjects[c], e->seq(), stopped)) return Status::OK();
      t.last[c] = e->seq();
    }
    RUNLOG_RETURN_IF_ERROR(st);
    if (t.reader->finished() && !t.end_shipped) {
      // Every record is sent: the end marker follows them (for replay --follow).
      const std::string& state = t.reader->context().state_json;
      line_ = state.empty() ? std::string("{}") : state;
      id_.clear();
      fmt::format_to(std::back_inserter(id_), "run/{}/{}/end", t.a, t.b);
      if (!send(t.end_subject, *std::max_element(t.last.begin(), t.last.end()), stopped)) return Status::OK();
      t.end_shipped = true;
    }
    if (!o_.follow || t.reader->finished()) {
      for (const std::string& n : t.reader->notes()) fmt::print(stderr, "runlog ship: note: {}: {}\n", t.src.dir, n);
      t.maybe_done = true;
    }
    if (!o_.follow) t.reader.reset();
    return Status::OK();
  }

  Status ship_conv(Tracked& t, bool* stopped) {
    struct ::stat chunks {}, durable {};
    (void)::stat((t.src.dir + "/chunks.jsonl").c_str(), &chunks);
    (void)::stat((t.src.dir + "/durable.seq").c_str(), &durable);
    if (o_.follow && same_file_state(chunks, t.seen) && same_file_state(durable, t.seen_durable)) return Status::OK();
    // Everything after the last seq shipped is read before any of it is sent:
    // a conversation the reader refuses ships nothing.
    io::LogReader reader;
    io::ReadFilter filter;
    filter.after = t.last[0];
    RUNLOG_RETURN_IF_ERROR(reader.open(io::conversation_source(t.src.dir), filter));
    std::string lines;
    std::vector<std::pair<std::uint64_t, std::size_t>> ends;  // seq, end of its line in `lines`
    const io::Entry* e = nullptr;
    Status st;
    while ((st = reader.next(&e)).ok() && e != nullptr) {
      io::append_stored(*e, &lines);
      ends.emplace_back(e->seq(), lines.size());
    }
    RUNLOG_RETURN_IF_ERROR(st);
    std::size_t from = 0;
    for (const auto& [seq, end] : ends) {
      line_.assign(lines, from, end - from);
      from = end;
      id_.clear();
      fmt::format_to(std::back_inserter(id_), "conv/{}/{}", t.a, seq);
      if (!send(t.subjects[0], seq, stopped)) return Status::OK();
      t.last[0] = seq;
    }
    t.seen = chunks;
    t.seen_durable = durable;
    t.maybe_done = true;
    return Status::OK();
  }

  void note_once(const char* what, const Status& st) {
    if (noted_) return;
    noted_ = true;
    fmt::print(stderr, "runlog ship: {}: {}\n", what, st.to_string());
  }

  const ShipOptions& o_;
  NatsLink& link_;
  ShipStats& stats_;
  std::map<std::string, Tracked> all_;
  std::string line_, id_;
  Status first_error_;
  bool noted_ = false;
};

void nap(int ms, volatile std::sig_atomic_t* stop) {
  const auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (!*stop && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 10)));
}

}  // namespace

Status ship(const ShipOptions& options, volatile std::sig_atomic_t* stop, ShipStats* stats) {
  ShipStats local;
  if (stats == nullptr) stats = &local;
  std::unique_ptr<NatsLink> link;
  RUNLOG_RETURN_IF_ERROR(NatsLink::connect(options.link).get(link));
  RUNLOG_RETURN_IF_ERROR(link->ensure_stream());
  Loop loop(options, *link, *stats);
  auto last_scan = Clock::now() - std::chrono::hours(1);
  Status result;
  int full_reports = 0;
  while (!*stop) {
    if (Clock::now() - last_scan >= std::chrono::milliseconds(options.scan_ms)) {
      loop.scan();
      last_scan = Clock::now();
    }
    bool stopped = false;
    Status fatal;
    loop.pass(stop, &stopped, &fatal);
    if (!fatal.ok()) {
      result = fatal;
      break;
    }
    Status drained = link->drain();
    stats->acked = link->acked();
    stats->duplicates = link->duplicates();
    if (!drained.ok()) {
      ++stats->resyncs;
      // Resuming from each subject's last message would skip a record that
      // failed while a later one of its subject (or its run's end marker)
      // was stored, unless it was stored after all (only its ack was lost).
      // The stream says.
      std::vector<std::string> holes;
      if (Status st = link->find_holes(&holes); !st.ok()) {
        result = Status(Errc::io_error, 0, fmt::format("after {}: cannot read the stream back: {}", drained.message(), st.message()));
        break;
      }
      if (!holes.empty()) {
        result = Status(Errc::corruption, 0,
                        fmt::format("out of order: a record was stored after an earlier one of its subject failed ({}); "
                                    "the stream holds a hole at {}",
                                    drained.message(), fmt::join(holes, ", ")));
        break;
      }
      if (link->out_of_order())
        fmt::print(stderr, "runlog ship: {}; the failed records were stored after all (their acks were lost)\n",
                   drained.message());
      if (link->failure() == LinkFailure::stream_full) {
        fmt::print(stderr, "runlog ship: stream {} is full ({}); nothing is skipped: shipping resumes where the stream ends\n",
                   options.link.stream, drained.message());
        if (!options.follow || ++full_reports > 1000000) {
          result = Status(Errc::io_error, 0, fmt::format("stream full: {}", drained.message()));
          break;
        }
        nap(1000, stop);
      } else {
        fmt::print(stderr, "runlog ship: {}; asking the stream where each run stands\n", drained.message());
      }
      loop.forget();
      continue;
    }
    loop.settle();
    if (!options.follow) {
      if (loop.all_done()) break;
      continue;
    }
    nap(options.poll_ms, stop);
  }
  if (result.ok()) result = loop.first_error();
  stats->acked = link->acked();
  stats->duplicates = link->duplicates();
  return result;
}

}  // namespace runlog::ship
