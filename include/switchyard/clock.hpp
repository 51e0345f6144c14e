// switchyard/clock.hpp — the injectable clock behind every delay, timeout, TTL and retention.
//
// Two kinds of time, never mixed:
//  * `TimePoint` (monotonic) drives everything that waits or expires: delivery delay, visibility
//    timeout, TTL, backoff, retention by age, blocking-call timeouts. A wall-clock jump does not
//    move it.
//  * `Timestamp` (wall clock, nanoseconds since the Unix epoch) is what a message or record
//    carries for people and for Kafka-style "seek to timestamp".
//
// `ManualClock` moves only when told to, so a test advances time by an hour in a nanosecond.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace switchyard {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
using Timestamp = std::chrono::sys_time<Duration>;

/// Source of time for a `Broker`. Implementations must be thread-safe: every method may be
/// called from any thread at any time.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic now. Never decreases.
  [[nodiscard]] virtual TimePoint now() const noexcept = 0;
  /// Wall-clock now, for message timestamps.
  [[nodiscard]] virtual Timestamp wall_now() const noexcept = 0;
  /// The longest a blocked call may sleep in real time before it looks at `now()` again.
  /// Real clocks say "as long as you like"; a manual clock says "briefly", because its time
  /// moves by `advance()` from another thread, not by sleeping.
  [[nodiscard]] virtual Duration max_real_sleep() const noexcept { return Duration::max(); }
};

/// The default clock: `steady_clock` for `now()`, `system_clock` for `wall_now()`.
class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const noexcept override {
    return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
  }
  [[nodiscard]] Timestamp wall_now() const noexcept override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
  /// The process-wide instance brokers use when none is given.
  static std::shared_ptr<SystemClock> instance() {
    static const auto clock = std::make_shared<SystemClock>();
    return clock;
  }
};

/// A clock that moves only when told. Thread-safe; `advance` from a test thread while
/// consumers run on others. Blocked calls notice a move within about a millisecond.
class ManualClock final : public Clock {
 public:
  /// Starts at monotonic time `start` and wall time `wall_start`.
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::hours(1)),
                       Timestamp wall_start = Timestamp(std::chrono::seconds(1'700'000'000)))
      : now_ns_(start.time_since_epoch().count()),
        wall_offset_ns_(wall_start.time_since_epoch().count() - start.time_since_epoch().count()) {}

  [[nodiscard]] TimePoint now() const noexcept override {
    // Relaxed: the clock orders nothing but itself; queues synchronise through their own atomics.
    return TimePoint(Duration(now_ns_.load(std::memory_order_relaxed)));
  }
  [[nodiscard]] Timestamp wall_now() const noexcept override {
    return Timestamp(Duration(now_ns_.load(std::memory_order_relaxed) +
                              wall_offset_ns_.load(std::memory_order_relaxed)));
  }
  [[nodiscard]] Duration max_real_sleep() const noexcept override {
    return std::chrono::milliseconds(1);
  }

  /// Moves monotonic and wall time forward by `d` (negative `d` is ignored: monotonic time
  /// never goes back).
  void advance(Duration d) noexcept {
    if (d.count() > 0) now_ns_.fetch_add(d.count(), std::memory_order_relaxed);
  }
  /// Jumps the wall clock alone, as an NTP step or a user changing the date would; monotonic
  /// time, and so every timeout, is unaffected.
  void jump_wall(Duration d) noexcept {
    wall_offset_ns_.fetch_add(d.count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> now_ns_;
  std::atomic<std::int64_t> wall_offset_ns_;
};

}  // namespace switchyard
