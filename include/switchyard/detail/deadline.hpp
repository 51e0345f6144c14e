// switchyard/detail/deadline.hpp — the one home of deadline arithmetic: "now + duration"
// saturates at the never end (INT64_MAX nanoseconds, TimePoint::max()) instead of overflowing.
//
// Every delay, time to live, visibility timeout, retry backoff, blocking-call timeout, dedup
// window, retention age and clock advance goes through here. A negative duration counts as 0
// here; before it gets here, a negative option (QueueOptions, TopicOptions, SubscriberOptions,
// SendOptions' delay and ttl) is refused with `Errc::invalid_argument`, while a negative
// timeout of a blocking call (receive, poll, shutdown) or ManualClock::advance means 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace switchyard::detail {

/// The instant that never comes, in nanoseconds of the broker's monotonic clock.
inline constexpr std::int64_t kNeverNs = std::numeric_limits<std::int64_t>::max();

/// `a + b`, clamped to the range of std::int64_t (never wraps).
[[nodiscard]] constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? kNeverNs : std::numeric_limits<std::int64_t>::min();
  }
  return sum;
}

/// `at_ns + after_ns` with a negative `after_ns` taken as 0, at most kNeverNs.
[[nodiscard]] constexpr std::int64_t deadline_ns(std::int64_t at_ns,
                                                 std::int64_t after_ns) noexcept {
  return after_ns <= 0 ? at_ns : saturating_add(at_ns, after_ns);
}

/// A deadline moved to another clock's epoch (monotonic <-> wall, for a durable copy): never
/// stays never, anything else moves by `offset_ns`, saturating.
[[nodiscard]] constexpr std::int64_t rebase_deadline(std::int64_t deadline_ns,
                                                     std::int64_t offset_ns) noexcept {
  return deadline_ns == kNeverNs ? kNeverNs : saturating_add(deadline_ns, offset_ns);
}

/// The same for chrono types: `at + after`, at most `time_point::max()`.
template <class Clock, class Duration>
[[nodiscard]] constexpr std::chrono::time_point<Clock, Duration> deadline_after(
    std::chrono::time_point<Clock, Duration> at, Duration after) noexcept {
  static_assert(std::is_same_v<typename Duration::rep, std::int64_t>,
                "deadline arithmetic is done in 64-bit ticks");
  return std::chrono::time_point<Clock, Duration>(
      Duration(deadline_ns(at.time_since_epoch().count(), after.count())));
}

}  // namespace switchyard::detail
