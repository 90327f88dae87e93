// io/reader_parallel.cpp — run_ordered(): many sources on a few threads, their
// output in source order. The one place in io/ that starts threads (the
// engine's io/ code starts none): readers are independent, so sources are
// spread over threads that each own a LogReader, and the calling thread writes.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "io/reader.h"

namespace runlog::io {
namespace {

class DirectWriter final : public ChunkWriter {
 public:
  explicit DirectWriter(const OrderedSink& sink) : sink_(sink) {}
  Status flush() override {
    if (buf_.empty() || !sink_error_.ok()) return sink_error_;
    sink_error_ = sink_.write(buf_);
    buf_.clear();
    return sink_error_;
  }
  const Status& sink_error() const { return sink_error_; }

 private:
  const OrderedSink& sink_;
  Status sink_error_;
};

constexpr std::size_t kChunkBytes = std::size_t{1} << 20;

struct Slot {
  std::deque<std::string> chunks;
  std::size_t bytes = 0;
  bool done = false;
  Status status;
};

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Slot> slots;
  std::size_t writer_at = 0;
  bool abort = false;
  std::vector<std::string> spare;  // recycled chunk buffers
};

// A buffer for a worker's output: a recycled one when there is one (a fresh
// std::string would grow, and fault its pages in, once per source).
std::string take_buffer(Shared& sh) {
  std::string b;
  {
    std::lock_guard<std::mutex> lk(sh.mu);
    if (!sh.spare.empty()) {
      b = std::move(sh.spare.back());
      sh.spare.pop_back();
    }
  }
  b.clear();
  if (b.capacity() < kChunkBytes + (kChunkBytes >> 2)) b.reserve(kChunkBytes + (kChunkBytes >> 2));
  return b;
}

class SlotWriter final : public ChunkWriter {
 public:
  SlotWriter(Shared& sh, std::size_t index, std::size_t max_buffered, std::string&& buf)
      : sh_(sh), index_(index), max_(max_buffered) {
    buf_ = std::move(buf);
  }
  /// The buffer back, for the next source (when nothing was left in it).
  std::string release() { return std::move(buf_); }
  Status flush() override {
    if (buf_.empty()) return Status::OK();
    std::unique_lock<std::mutex> lk(sh_.mu);
    Slot& s = sh_.slots[index_];
    sh_.cv.wait(lk, [&] { return sh_.abort || sh_.writer_at == index_ || s.bytes < max_; });
    if (sh_.abort) return Status(Errc::closed, 0, "output stopped");
    s.bytes += buf_.size();
    s.chunks.push_back(std::move(buf_));
    buf_ = std::string();
    if (!sh_.spare.empty()) {
      buf_ = std::move(sh_.spare.back());
      sh_.spare.pop_back();
    }
    sh_.cv.notify_all();
    lk.unlock();
    buf_.clear();
    if (buf_.capacity() < kChunkBytes) buf_.reserve(kChunkBytes + (kChunkBytes >> 2));
    return Status::OK();
  }

 private:
  Shared& sh_;
  const std::size_t index_;
  const std::size_t max_;
};

}  // namespace

Status run_ordered(std::size_t n, unsigned threads, const ReaderOptions& options,
                   const std::function<Status(std::size_t index, LogReader& reader, ChunkWriter& out)>& work,
                   const OrderedSink& sink, std::size_t max_buffered) {
  if (n == 0) return Status::OK();
  if (threads <= 1 || n == 1) {
    LogReader reader(options);
    DirectWriter w(sink);
    for (std::size_t i = 0; i < n; ++i) {
      Status st = work(i, reader, w);
      Status fl = w.flush();
      if (!w.sink_error().ok()) return w.sink_error();
      if (st.ok()) st = fl;
      if (sink.done) sink.done(i, st);
    }
    return Status::OK();
  }

  const unsigned nthreads = static_cast<unsigned>(std::min<std::size_t>(threads, n));
  Shared sh;
  sh.slots.resize(n);
  std::atomic<std::size_t> next{0};
  ReaderOptions opts = options;
  opts.simdjson_threads = false;  // the cores are taken by our own threads
  auto worker = [&] {
    LogReader reader(opts);
    std::string buf = take_buffer(sh);
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      {
        std::lock_guard<std::mutex> lk(sh.mu);
        if (sh.abort) return;
      }
      SlotWriter w(sh, i, max_buffered, std::move(buf));
      Status st = work(i, reader, w);
      Status fl = w.flush();
      if (st.ok()) st = fl;
      buf = w.release();
      std::lock_guard<std::mutex> lk(sh.mu);
      sh.slots[i].done = true;
      sh.slots[i].status = st;
      sh.cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(nthreads);
  for (unsigned t = 0; t < nthreads; ++t) pool.emplace_back(worker);

  Status result;
  for (std::size_t i = 0; i < n && result.ok(); ++i) {
    std::unique_lock<std::mutex> lk(sh.mu);
    sh.writer_at = i;
    sh.cv.notify_all();
    Slot& s = sh.slots[i];
    for (;;) {
      sh.cv.wait(lk, [&] { return !s.chunks.empty() || s.done; });
      if (!s.chunks.empty()) {
        std::string chunk = std::move(s.chunks.front());
        s.chunks.pop_front();
        s.bytes -= chunk.size();
        sh.cv.notify_all();
        lk.unlock();
        Status st = sink.write(chunk);
        lk.lock();
        if (sh.spare.size() < 2 * nthreads + 2) sh.spare.push_back(std::move(chunk));
        if (!st.ok()) {
          result = st;
          sh.abort = true;
          sh.cv.notify_all();
          break;
        }
        continue;
      }
      Status st = s.status;
      lk.unlock();
      if (sink.done) sink.done(i, st);
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lk(sh.mu);
    if (!result.ok()) sh.abort = true;
    sh.cv.notify_all();
  }
  for (auto& t : pool) t.join();
  return result;
}

}  // namespace runlog::io
