#include "bench/peers/support.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "io/fs.h"
#include "io/recovery.h"

extern char** environ;

namespace runlog::bench {
namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0' || n == 0) {
    fmt::print(stderr, "runlog_bench: {}={} is not a positive integer\n", name, v);
    std::exit(2);
  }
  return n;
}

double env_real(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (*end != '\0' || !(d > 0)) {
    fmt::print(stderr, "runlog_bench: {}={} is not a positive number\n", name, v);
    std::exit(2);
  }
  return d;
}

// One top folder per process (mkdtemp), removed at exit; scratch folders below it.
struct TopDir {
  std::string path;
  std::atomic<std::uint64_t> next{0};
  TopDir() {
    const char* base = std::getenv("RUNLOG_BENCH_DIR");
    if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
    if (base == nullptr || *base == '\0') base = "/var/tmp";
    std::error_code ec;
    std::filesystem::create_directories(base, ec);
    std::string templ = std::string(base) + "/runlog-bench-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      fmt::print(stderr, "runlog_bench: cannot make a scratch folder under {}: {}\n", base, std::strerror(errno));
      std::exit(2);
    }
    path = templ;
  }
  ~TopDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

TopDir& top_dir() {
  static TopDir dir;
  return dir;
}

std::uint64_t status_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, n, key) == 0) return std::stoull(line.substr(n)) * 1024;
  }
  return 0;
}

}  // namespace

const Knobs& knobs() {
  static const Knobs k = [] {
    Knobs o;
    o.records = env_u64("RUNLOG_BENCH_RECORDS", o.records);
    o.w2_records = env_u64("RUNLOG_BENCH_W2_RECORDS", std::max<std::uint64_t>(o.records / 4, 1));
    o.w4_seconds = env_real("RUNLOG_BENCH_W4_SECONDS", o.w4_seconds);
    o.fsync_records = env_u64("RUNLOG_BENCH_FSYNC_RECORDS", o.fsync_records);
    o.sync_samples = env_u64("RUNLOG_BENCH_SYNC_SAMPLES", o.sync_samples);
    if (const char* n = std::getenv("RUNLOG_BENCH_NODE"); n != nullptr && *n != '\0') o.node = n;
    if (const char* n = std::getenv("RUNLOG_BENCH_SMOKE"); n != nullptr && *n != '\0') o.smoke = true;
    o.dir = top_dir().path;
    return o;
  }();
  return k;
}

std::uint64_t workload_records(const tools::WorkloadSpec& w) {
  if (w.name == "W4") return 0;
  return w.name == "W2" ? knobs().w2_records : knobs().records;
}

Scratch::Scratch(std::string_view tag) {
  TopDir& top = top_dir();
  std::string name(tag);
  std::replace(name.begin(), name.end(), '/', '_');
  path_ = fmt::format("{}/{}-{}", top.path, name, top.next.fetch_add(1));
  std::filesystem::create_directories(path_);
}

Scratch::~Scratch() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  // Deleted files drop their dirty pages; what is left to write back goes now.
  if (knobs().smoke) return;
  int fd = ::open(top_dir().path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::syncfs(fd);
    ::close(fd);
  }
}

Result<std::uint64_t> check_runs(const std::string& root, const tools::WorkloadResult& r, std::uint64_t expected,
                                 const std::function<void(std::string_view line)>& on_line) {
  auto fs = io::posix_fs();
  std::uint64_t total = 0;
  std::string buf;
  for (const std::string& run_id : r.run_ids) {
    const std::string dir_path = fmt::format("{}/{}/{}", root, r.task_id, run_id);
    auto dir = fs->open_root(dir_path, false, 0700);
    if (!dir.ok()) return dir.status();
    std::vector<std::unique_ptr<io::File>> owned;
    std::vector<io::File*> files;
    for (int c = 0; c < kRunChannels; ++c) {
      auto f = dir.value()->open_file(channel_file_name(static_cast<Channel>(c)), io::OpenMode::read_only, 0);
      if (!f.ok()) return f.status();
      files.push_back(f.value().get());
      owned.push_back(std::move(f).value());
    }
    io::RecordVisitor visit;
    if (on_line) {
      visit = [&](std::size_t i, const io::ScannedRecord& rec) -> Status {
        buf.resize(rec.length);
        std::size_t got = 0;
        if (Status st = files[i]->pread(buf.data(), rec.length, rec.offset, &got); !st.ok()) return st;
        if (got != rec.length) return Status(Errc::io_error, 0, fmt::format("{}: short read", files[i]->path()));
        on_line(buf);
        return Status::OK();
      };
    }
    auto plan = io::plan_recovery(files, 0, visit);
    if (!plan.ok()) return plan.status();
    for (std::size_t i = 0; i < files.size(); ++i) {
      const io::ChannelCut& cut = plan->channels[i];
      if (cut.reason != io::CutReason::none || cut.keep != cut.size) {
        return Status::Corruption(fmt::format(
            "{}/{}", dir_path, io::describe_cut(channel_file_name(static_cast<Channel>(i)), cut, plan->last_seq)));
      }
    }
    total += plan->last_seq;
  }
  if (expected != 0 && total != expected) {
    return Status::Corruption(fmt::format("{}/{}: {} records on disk, {} expected", root, r.task_id, total, expected));
  }
  if (total != r.records) {
    return Status::Corruption(
        fmt::format("{}/{}: {} records on disk, the engine reports {} written", root, r.task_id, total, r.records));
  }
  return total;
}

Result<LinePool> make_line_pool(const tools::WorkloadSpec& w, std::uint64_t records) {
  Scratch scratch("pool-" + w.name);
  tools::WorkloadOptions o;
  o.spec = w;
  o.engine.runsRoot = scratch.path();
  o.engine.durability = Durability::none;
  o.records = records;
  o.task_id = "pool";
  auto r = tools::run_workload(o);
  if (!r.ok()) return r.status();
  LinePool pool;
  pool.lines.reserve(r->records);
  auto checked = check_runs(scratch.path(), r.value(), records + 3 * static_cast<std::uint64_t>(w.runs),
                            [&](std::string_view line) {
                              pool.lines.emplace_back(line);
                              pool.bytes += line.size();
                            });
  if (!checked.ok()) return checked.status();
  return pool;
}

Result<std::string> run_capture(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  if (err != 0) {
    ::close(pipefd[0]);
    return Status::FromErrno(err, "spawn " + args[0]);
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status(Errc::io_error, 0, fmt::format("{} failed (wait status {:#x}): {}", args[0], wstatus, out));
  }
  return out;
}

Result<std::uint64_t> count_lines(const std::string& path) {
  std::uint64_t n = 0;
  std::error_code ec;
  std::vector<std::string> files;
  if (std::filesystem::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) files.push_back(it->path().string());
    }
    if (ec) return Status(Errc::io_error, ec.value(), fmt::format("{}: {}", path, ec.message()));
  }
  std::vector<char> buf(std::size_t{1} << 20);
  for (const std::string& f : files) {
    int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + f);
    ssize_t got;
    while ((got = ::read(fd, buf.data(), buf.size())) > 0) n += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + got, '\n'));
    int err = errno;
    ::close(fd);
    if (got < 0) return Status::FromErrno(err, "read " + f);
  }
  return n;
}

std::uint64_t current_rss_bytes() { return status_kib("VmRSS:"); }

void reset_peak_rss() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace runlog::bench
