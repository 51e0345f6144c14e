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

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "switchyard/detail/deadline.hpp"
#include "switchyard/export.hpp"

namespace switchyard {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
using Timestamp = std::chrono::sys_time<Duration>;

/// Both clocks at one instant.
struct Stamp {
  TimePoint now;
  Timestamp wall;
};

/// One broker call about to sleep, as `Clock::wait_begins` shows it to a clock that runs
/// virtual time (switchyard/testing/virtual_clock.hpp). It lives on the sleeping thread's stack
/// from `wait_begins` to `wait_ends`; the clock may call `notify` and `notified` in between,
/// from any thread, never after `wait_ends` has returned.
struct BlockedWait {
  /// When the call looks again by itself: its timeout, or the next timed event it waits for (a
  /// delay ending, a visibility timeout, an expiry). `TimePoint::max()`: only a notify ends it.
  TimePoint wake;
  /// The event it sleeps on, and its registration there (opaque to the clock).
  void* event;
  std::uint64_t key;
  /// Ends the sleep at once (notifies `event`: every sleeper of it wakes and looks again).
  void (*notify)(void* event) noexcept;
  /// Whether the sleep has already been ended by a notify: the thread is about to run again.
  bool (*notified)(const BlockedWait& wait) noexcept;
  /// A periodic maintenance wake (a compacted topic's compaction pass): it runs when time
  /// reaches it, but is never itself a reason for time to move — a flow whose only deadlines
  /// are ticks is stuck, not waiting.
  bool tick = false;
};

/// Source of time for a `Broker`. Implementations must be thread-safe: every method may be
/// called from any thread at any time.
///
/// Virtual time (the hooks at the end). A clock whose time moves by itself when the broker is
/// idle — a test's `VirtualClock` — needs to know two things: which threads belong to the
/// flow, and when each of them sleeps in the broker until when. The broker tells every clock:
///  * every sleep of a blocked broker call (receive, poll, a send held by a full buffer, a
///    pub/sub dispatch thread with nothing to do, the queue-expiry thread, a test recorder's
///    await) goes through `detail::IdleWait::park`, which calls `wait_begins` after the
///    sleeper registered on its event and checked its condition one last time, and `wait_ends`
///    when it wakes (see src/sync/idle_wait.hpp);
///  * every thread the broker starts that may block on it (push workers, pub/sub dispatch
///    threads, a requester's reply thread, the queue-expiry thread, a compactor) is announced by
///    `thread_starting` on the starting thread before it exists, then calls `thread_begins`
///    first and `thread_ends` last (or the starter calls `thread_ends` if the start failed).
/// Real clocks ignore all of it (the defaults are empty), so it costs a virtual call per sleep.
class SWITCHYARD_EXPORT Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic and wall-clock now together (what a send stamps on a message). The default
  /// reads both clocks; an implementation may derive one from the other if it stays within a
  /// few milliseconds of `wall_now()`.
  [[nodiscard]] virtual Stamp stamp() const noexcept { return {now(), wall_now()}; }
  /// A cheaper stamp for the send path, from a coarse clock: each half is at most
  /// `coarse_resolution()` earlier than `stamp()` would say at the same moment, never later.
  /// The default is `stamp()` itself, exact (what a `ManualClock` gives, so tests stay exact).
  [[nodiscard]] virtual Stamp coarse_stamp() const noexcept { return stamp(); }
  /// `coarse_stamp().now` without the wall half (a receive needs no wall time).
  [[nodiscard]] virtual TimePoint coarse_now() const noexcept { return coarse_stamp().now; }
  /// How far `coarse_stamp()` may lag behind `stamp()`. Whoever derives a deadline that must not
  /// come early (a delay, a TTL, a visibility timeout) from a coarse stamp adds this to it.
  [[nodiscard]] virtual Duration coarse_resolution() const noexcept { return Duration{0}; }
  /// Monotonic now. Never decreases.
  [[nodiscard]] virtual TimePoint now() const noexcept = 0;
  /// Wall-clock now, for message timestamps.
  [[nodiscard]] virtual Timestamp wall_now() const noexcept = 0;
  /// The longest a blocked call may sleep in real time before it looks at `now()` again.
  /// Real clocks say "as long as you like"; a manual clock says "briefly", because its time
  /// moves by `advance()` from another thread, not by sleeping.
  [[nodiscard]] virtual Duration max_real_sleep() const noexcept { return Duration::max(); }

  /// A broker call is about to sleep (see the class comment). Must not block for long, must
  /// not call into the broker; may call `wait.notify` (also for this very sleep, which then
  /// returns at once). @note threadsafe
  virtual void wait_begins(BlockedWait& wait) const noexcept { (void)wait; }
  /// The sleep that `wait_begins(wait)` announced is over. @note threadsafe
  virtual void wait_ends(BlockedWait& wait) const noexcept { (void)wait; }
  /// A broker thread that may block is about to be started by the calling thread.
  virtual void thread_starting() const noexcept {}
  /// First call on that thread. @note threadsafe
  virtual void thread_begins() const noexcept {}
  /// Last call on that thread (or on the starter, when the start failed). @note threadsafe
  virtual void thread_ends() const noexcept {}
};

/// The default clock: `steady_clock` for `now()`, `system_clock` for `wall_now()`, and
/// `CLOCK_MONOTONIC_COARSE` (the kernel's time at the last scheduler tick) for `coarse_stamp()`.
class SWITCHYARD_EXPORT SystemClock final : public Clock {
 public:
  SystemClock() noexcept {
    timespec res{};
    if (::clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0) {
      coarse_resolution_ = std::chrono::seconds(res.tv_sec) + Duration(res.tv_nsec);
    }
  }
  [[nodiscard]] TimePoint now() const noexcept override {
    return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
  }
  [[nodiscard]] Timestamp wall_now() const noexcept override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
  /// One clock read instead of two (a read costs ~40 ns on a VM): the wall time is the
  /// monotonic time plus an offset re-measured every `kOffsetRefresh`, so it follows a
  /// wall-clock step within that time.
  [[nodiscard]] Stamp stamp() const noexcept override { return with_wall(now()); }
  /// A read of `CLOCK_MONOTONIC_COARSE` (a fraction of the cost of `now()` on a VM), with the
  /// wall time derived the same way as in `stamp()`. It lags by at most one tick (typically
  /// 1-4 ms; `coarse_resolution()` says which). Falls back to `stamp()` if the kernel lacks it.
  [[nodiscard]] Stamp coarse_stamp() const noexcept override { return with_wall(coarse_now()); }
  [[nodiscard]] TimePoint coarse_now() const noexcept override {
    timespec ts{};
    if (coarse_resolution_.count() == 0 || ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) {
      return now();
    }
    return TimePoint(std::chrono::seconds(ts.tv_sec) + Duration(ts.tv_nsec));
  }
  [[nodiscard]] Duration coarse_resolution() const noexcept override { return coarse_resolution_; }
  static constexpr Duration kOffsetRefresh = std::chrono::milliseconds(10);
  /// The process-wide instance brokers use when none is given.
  static std::shared_ptr<SystemClock> instance() {
    static const auto clock = std::make_shared<SystemClock>();
    return clock;
  }

 private:
  /// `t` and the wall time at `t`, from the cached offset.
  Stamp with_wall(TimePoint t) const noexcept {
    const std::int64_t ns = t.time_since_epoch().count();
    // Relaxed throughout: offset_ and measured_at_ are a cache; a racing reader that pairs an
    // old offset with a new measured_at_ (or the reverse) is off by at most one refresh step.
    if (ns - measured_at_.load(std::memory_order_relaxed) > kOffsetRefresh.count()) {
      offset_.store(wall_now().time_since_epoch().count() - now().time_since_epoch().count(),
                    std::memory_order_relaxed);
      measured_at_.store(ns, std::memory_order_relaxed);
    }
    return {t, Timestamp(Duration(ns + offset_.load(std::memory_order_relaxed)))};
  }

  Duration coarse_resolution_{0};  // 0: no coarse clock, coarse_stamp() is stamp()
  mutable std::atomic<std::int64_t> offset_{0};
  mutable std::atomic<std::int64_t> measured_at_{INT64_MIN / 2};
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
  [[nodiscard]] Stamp stamp() const noexcept override {
    // One load of now_ns_, so both halves describe the same instant.
    const std::int64_t ns = now_ns_.load(std::memory_order_relaxed);
    return {TimePoint(Duration(ns)),
            Timestamp(Duration(ns + wall_offset_ns_.load(std::memory_order_relaxed)))};
  }

  /// Moves monotonic and wall time forward by `d` (negative `d` is ignored: monotonic time
  /// never goes back), stopping at TimePoint::max().
  void advance(Duration d) noexcept {
    if (d.count() <= 0) return;
    std::int64_t now = now_ns_.load(std::memory_order_relaxed);
    // Relaxed: as in now(); the loop only makes the saturating add atomic.
    while (!now_ns_.compare_exchange_weak(now, detail::deadline_ns(now, d.count()),
                                          std::memory_order_relaxed)) {
    }
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
