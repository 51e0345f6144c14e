// src/util/latency_recorder.hpp — the lock-free counters behind a LatencyHistogram.
//
// Data structure: one relaxed atomic counter per bucket of `LatencyHistogram::kBoundsNs`, and
// the sum. No count of its own: `snapshot()` derives it from the buckets, so count and buckets
// never disagree (Prometheus requires `_count` = the +Inf bucket).
//
// Threads: `record` may be called from any number of threads at once (wait-free: a branchless
// search over 21 bounds and two relaxed fetch_adds); `snapshot` from any thread, concurrently
// with `record`. Relaxed everywhere: the counters order nothing else, and each is exact on its
// own; a snapshot taken while records run may see an observation's bucket before its sum.
// Writers on different threads share the recorder's cache lines: put a recorder where its
// writers already share a line (a queue's delivery counters), not in a per-thread hot loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>

#include "switchyard/histogram.hpp"

namespace switchyard::detail {

class LatencyRecorder {
 public:
  /// Counts one observation of `ns` nanoseconds (a negative one — a clock step — as 0).
  /// @note threadsafe, wait-free
  void record(std::int64_t ns) noexcept {
    const std::uint64_t value = ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
    buckets_[bucket_of(value)].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(value, std::memory_order_relaxed);
  }

  /// Observations counted by one thread on its stack, for one `add` (a run of deliveries
  /// pays a fetch_add per bucket it touched, not two per observation). Not threadsafe.
  class Tally {
   public:
    void record(std::int64_t ns) noexcept {
      const std::uint64_t value = ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
      ++counts_[bucket_of(value)];
      sum_ns_ += value;
    }

   private:
    friend class LatencyRecorder;
    std::uint64_t counts_[LatencyHistogram::kBuckets] = {};
    std::uint64_t sum_ns_ = 0;
  };
  /// Counts every observation of `tally` (relaxed, as `record`). @note threadsafe, wait-free
  void add(const Tally& tally) noexcept {
    for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      if (tally.counts_[i] != 0) buckets_[i].fetch_add(tally.counts_[i], std::memory_order_relaxed);
    }
    if (tally.sum_ns_ != 0) sum_ns_.fetch_add(tally.sum_ns_, std::memory_order_relaxed);
  }
  /// The counts so far. @note threadsafe; not one atomic reading (see the header comment)
  [[nodiscard]] LatencyHistogram snapshot() const noexcept {
    LatencyHistogram h;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
      h.counts[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    h.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return h;
  }

  /// The bucket an observation of `ns` falls in: the number of bounds below it.
  /// A branchless binary search (five steps for the 21 bounds, not one compare per bound): an
  /// age is counted on every delivery.
  [[nodiscard]] static std::size_t bucket_of(std::uint64_t ns) noexcept {
    constexpr auto& bounds = LatencyHistogram::kBoundsNs;
    static_assert(bounds.size() < 32, "five steps cover at most 31 bounds");
    std::size_t i = 0;  // how many bounds are below ns
    for (std::size_t step = 16; step != 0; step /= 2) {
      if (i + step <= bounds.size() && bounds[i + step - 1] < ns) i += step;
    }
    return i;
  }

 private:
  std::atomic<std::uint64_t> buckets_[LatencyHistogram::kBuckets] = {};
  // Wraps after 584 years of summed latency; Prometheus' _sum is a float anyway.
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace switchyard::detail
