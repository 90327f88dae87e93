// tests/support/fault_fs.h — a file system for tests that fails on demand:
// the real one (io::posix_fs()) underneath, with faults armed per operation
// and path suffix. Hand it to the engine through Options::fs.
//
//   auto fs = std::make_shared<FaultFs>();
//   fs->Fail(FaultFs::Op::datasync, "/bad/stdout.jsonl", EIO);   // from now on
//   options.fs = fs;
//
// Threads: thread-safe (faults are read under a mutex on every operation).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/fs.h"

namespace runlog::testing {

class FaultFs final : public io::Fs, public std::enable_shared_from_this<FaultFs> {
 public:
  enum class Op { pwritev, datasync, syncfs };  ///< syncfs: matched against the folder's path

  FaultFs() : real_(io::posix_fs()) {}

  /// Every later `op` on a file whose path ends with `suffix` fails with `err`
  /// (pwritev: nothing written).
  void Fail(Op op, std::string suffix, int err) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.push_back({op, std::move(suffix), err});
  }
  /// Every later syncfs waits until ReleaseSyncfs() before it returns (its
  /// fault is decided when it is called): a test can act while a syncfs is in
  /// flight. Thread: any.
  void HoldSyncfs() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void ReleaseSyncfs() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = false;
    }
    cv_.notify_all();
  }
  /// How many syncfs calls are waiting in HoldSyncfs().
  int held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }
  /// Called by the file system's folders on every syncfs.
  void WaitIfHeld() {
    std::unique_lock<std::mutex> lock(mu_);
    ++held_;
    cv_.wait(lock, [&] { return !hold_; });
    --held_;
  }
  /// The next `times` pwritev calls on a file whose path ends with `suffix`
  /// sleep for `delay` first, then write (a slow device). Thread: any.
  void SlowWrites(std::string suffix, std::chrono::milliseconds delay, int times) {
    std::lock_guard<std::mutex> lock(mu_);
    slow_suffix_ = std::move(suffix);
    slow_delay_ = delay;
    slow_left_ = times;
  }
  /// How long a pwritev on `path` sleeps first (SlowWrites); counts it.
  std::chrono::milliseconds WriteDelayFor(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    if (slow_left_ == 0 || path.size() < slow_suffix_.size() ||
        path.compare(path.size() - slow_suffix_.size(), slow_suffix_.size(), slow_suffix_) != 0)
      return std::chrono::milliseconds(0);
    --slow_left_;
    return slow_delay_;
  }
  /// Slow pwritev calls that have returned. Thread: any.
  int slow_writes_done() const { return slow_done_.load(); }
  void NoteSlowWriteDone() { slow_done_.fetch_add(1); }
  /// Disarms every fault and slow write.
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.clear();
    slow_left_ = 0;
  }
  /// How many operations failed so far.
  int failures() const { return failures_.load(); }

  /// 0, or the errno to fail `op` on `path` with.
  int FaultFor(Op op, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Fault& f : faults_) {
      if (f.op == op && path.size() >= f.suffix.size() &&
          path.compare(path.size() - f.suffix.size(), f.suffix.size(), f.suffix) == 0) {
        failures_.fetch_add(1);
        return f.err;
      }
    }
    return 0;
  }

  Result<std::unique_ptr<io::Dir>> open_root(const std::string& path, bool create, mode_t mode) override;

 private:
  struct Fault {
    Op op;
    std::string suffix;
    int err;
  };
  std::shared_ptr<io::Fs> real_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int held_ = 0;
  std::vector<Fault> faults_;
  std::string slow_suffix_;
  std::chrono::milliseconds slow_delay_{0};
  int slow_left_ = 0;
  std::atomic<int> slow_done_{0};
  std::atomic<int> failures_{0};
};

}  // namespace runlog::testing
