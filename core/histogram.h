// core/histogram.h — a latency histogram: one writer (the sequencer), any
// number of readers. Log-linear buckets (16 per power of two, so a percentile
// is within 1/16 = 6.25% of the true value), fixed memory, no allocation.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace runlog::detail {

class Histogram {
 public:
  static constexpr int kSub = 16;
  static constexpr int kBuckets = 64 * kSub;

  /// Writer only. `v` in nanoseconds (negatives count as 0).
  void record(std::int64_t v) noexcept {
    std::uint64_t u = v < 0 ? 0 : static_cast<std::uint64_t>(v);
    auto& c = counts_[index(u)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    total_.store(total_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (u > max_.load(std::memory_order_relaxed)) max_.store(u, std::memory_order_relaxed);
  }
  /// Any thread. q in [0, 1]; returns nanoseconds (upper edge of the bucket).
  double quantile(double q) const noexcept {
    std::uint64_t total = total_.load(std::memory_order_relaxed);
    if (total == 0) return 0;
    std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(total - 1)) + 1;
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i].load(std::memory_order_relaxed);
      if (seen >= rank) {
        double edge = static_cast<double>(upper(i));
        double mx = static_cast<double>(max_.load(std::memory_order_relaxed));
        return edge < mx ? edge : mx;
      }
    }
    return static_cast<double>(max_.load(std::memory_order_relaxed));
  }
  std::uint64_t count() const noexcept { return total_.load(std::memory_order_relaxed); }
  std::uint64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }

  static int index(std::uint64_t u) noexcept {
    if (u < kSub) return static_cast<int>(u);
    int msb = 63 - std::countl_zero(u);  // >= 4
    int sub = static_cast<int>((u >> (msb - 4)) & (kSub - 1));
    return (msb - 3) * kSub + sub;
  }
  static std::uint64_t upper(int i) noexcept {
    if (i < kSub) return static_cast<std::uint64_t>(i);
    int msb = i / kSub + 3;
    std::uint64_t sub = static_cast<std::uint64_t>(i % kSub);
    std::uint64_t lo = (std::uint64_t{1} << msb) | (sub << (msb - 4));
    return lo + (std::uint64_t{1} << (msb - 4)) - 1;
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace runlog::detail
