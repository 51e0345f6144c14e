// switchyard/histogram.hpp — a snapshot of a latency histogram (how long something took, or how
// old a message was), in fixed buckets that read as a Prometheus histogram.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace switchyard {

/// A latency histogram as counted so far: how many observations fell in each bucket, their
/// count and their sum. Every histogram of the library (a queue's message age at delivery, the
/// storage's sync latency) has the same buckets, `kBoundsNs`: an observation of `d` ns is
/// counted in the first bucket whose bound is ≥ `d` (Prometheus' `le`), or in the last
/// bucket ("+Inf") when it exceeds them all. Each bucket is exact; the snapshot is not one
/// atomic reading (a concurrent observation may be in `counts` and not yet in `sum_ns`).
struct LatencyHistogram {
  /// Upper bounds, in nanoseconds: 25 µs to 5 min, about 2.5 × apart.
  static constexpr std::array<std::uint64_t, 21> kBoundsNs = {
      25'000,         50'000,         100'000,        250'000,       500'000,       1'000'000,
      2'500'000,      5'000'000,      10'000'000,     25'000'000,    50'000'000,    100'000'000,
      250'000'000,    500'000'000,    1'000'000'000,  2'500'000'000, 5'000'000'000, 10'000'000'000,
      30'000'000'000, 60'000'000'000, 300'000'000'000};
  static constexpr std::size_t kBuckets = kBoundsNs.size() + 1;  ///< the last one is +Inf

  /// Observations per bucket (not cumulative); `counts[i]` are those ≤ `kBoundsNs[i]` and
  /// above the bound before; `counts[kBuckets - 1]` those above every bound.
  std::array<std::uint64_t, kBuckets> counts{};
  std::uint64_t sum_ns = 0;  ///< sum of every observation, in nanoseconds

  /// Observations in all buckets.
  [[nodiscard]] std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    for (std::uint64_t c : counts) n += c;
    return n;
  }
  friend bool operator==(const LatencyHistogram&, const LatencyHistogram&) = default;
};

}  // namespace switchyard
