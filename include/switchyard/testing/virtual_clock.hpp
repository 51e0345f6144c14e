// switchyard/testing/virtual_clock.hpp — a test clock whose time jumps to the next pending
// deadline exactly when every thread of the test is blocked on the broker.
//
// Go's testing/synctest and tokio's paused clock, for a broker: give a `VirtualClock` to
// `BrokerOptions::clock` and a `receive(5s)` on an empty queue returns `timed_out` at once, in
// virtual time; a flow of retries with backoff over hours of virtual time runs in milliseconds;
// a broken flow fails fast instead of hanging the test run, and no test needs a sleep.
//
// The threads of the test (the "participants"): the thread that constructed the clock, every
// thread the broker starts on it (push workers, pub/sub dispatch threads, a requester's reply
// thread, the queue-expiry thread, a compacted topic's compactor — announced by the broker, see
// `Clock`'s class comment), and every thread started with `VirtualClock::thread`. A participant
// counts as *blocked* while it sleeps in the broker (a receive, poll, blocked send, an idle
// dispatch thread, a recorder's await) and no notify has ended that sleep yet, or while it is
// inside `advance`, `wait_until_idle` or `join` here. Everything else counts as running: computing,
// spinning or yielding in an `IdleWait` before it parks, waiting on a mutex, or blocked on
// something that is not the broker (a std::latch, a socket).
//
// The rule (auto-advance): when every participant is blocked, time jumps to the earliest wake
// among the sleepers (a receive's timeout, a delay or visibility deadline, the next expiry, an
// `advance` target), every sleeper due by then is notified, and the flow runs until it is
// blocked again. Sleepers on threads that are not participants are woken when their time comes
// but never hold time back. If every participant is blocked and nothing has a deadline, or the
// next deadline lies beyond `Options::horizon`, the flow can never go on: `on_deadlock` is called
// (by default it prints what is blocked and aborts: a test that would hang fails at once).
// A broker's periodic maintenance (a compacted topic's compaction pass, every second of the
// clock's time) is a *tick*: time stops at each tick on its way to a deadline of the flow, so
// the pass runs alone and in order, but a tick is never a deadline of its own — with only ticks
// left the flow is stuck, as above.
//
// `advance(d)` is race-free with respect to threads that have not started waiting yet: it moves
// time only while every other participant is blocked, stops at each deadline on the way (each
// sleeper sees exactly its own time), and returns when time is `now + d` and every other
// participant is blocked again. So "start a consumer thread, advance 30s" means the consumer
// entered its receive before the 30 seconds passed. With `auto_advance = false` time moves only
// in `advance`, which otherwise behaves the same.
//
// Spin and yield phases are real time: a consumer with `WaitStrategy::spin` or `yield` never
// parks, so it never counts as blocked; use the default `WaitStrategy::park` under this clock.
// Thread-safe; all of it may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "switchyard/clock.hpp"
#include "switchyard/export.hpp"

namespace switchyard::testing {

class SWITCHYARD_EXPORT VirtualClock final : public Clock {
 public:
  struct Options {
    /// Jump to the next deadline whenever every participant is blocked. False: only `advance`
    /// moves time (a `ManualClock` that waits for the flow).
    bool auto_advance = true;
    /// Monotonic and wall-clock time at the start.
    TimePoint start = TimePoint(std::chrono::hours(1));
    Timestamp wall_start = Timestamp(std::chrono::seconds(1'700'000'000));
    /// Auto-advance never moves time further than this past `start`: a flow still waiting
    /// then (a push worker's idle loop with nothing else to wait for) is a deadlock.
    Duration horizon = std::chrono::hours(24 * 365);
    /// Called (with the clock's lock held, on the thread that found it) when every participant
    /// is blocked and time cannot move: `what` names the blocked sleepers. The default prints
    /// `what` to stderr and calls std::abort(). A handler that returns leaves the flow blocked.
    std::function<void(const std::string& what)> on_deadlock{};
  };

  /// The constructing thread is the first participant.
  VirtualClock();
  explicit VirtualClock(Options options);
  ~VirtualClock() override;
  VirtualClock(const VirtualClock&) = delete;
  VirtualClock& operator=(const VirtualClock&) = delete;

  [[nodiscard]] TimePoint now() const noexcept override;
  [[nodiscard]] Timestamp wall_now() const noexcept override;
  [[nodiscard]] Stamp stamp() const noexcept override;
  /// Duration::max(): sleepers are woken when their virtual time comes, not by polling.
  [[nodiscard]] Duration max_real_sleep() const noexcept override;

  /// Blocks the caller until every other participant is blocked, moving time through each
  /// pending deadline up to `now() + d` (see the file comment); `d <= 0` only waits for the
  /// others. Returns the time reached.
  TimePoint advance(Duration d);
  /// `advance(0)`: returns once every other participant is blocked, time unmoved.
  void wait_until_idle();
  /// Starts `body` on a new participant thread (counted before it runs).
  template <class Body>
  [[nodiscard]] std::thread thread(Body&& body) {
    thread_starting();
    try {
      return std::thread([this, body = std::forward<Body>(body)]() mutable {
        thread_begins();
        body();
        thread_ends();
      });
    } catch (...) {
      thread_ends();
      throw;
    }
  }
  /// `t.join()`, counting the caller as blocked until `t` has ended (a participant that joins
  /// a thread waiting in virtual time would otherwise hold time back forever).
  void join(std::thread& t);

  /// How many participants there are, and how many are blocked now (a snapshot).
  [[nodiscard]] std::size_t participants() const noexcept;
  [[nodiscard]] std::size_t blocked() const noexcept;
  /// How many times time has moved (by auto-advance or `advance`).
  [[nodiscard]] std::uint64_t jumps() const noexcept;

  // The broker's side (see Clock): not for tests to call.
  void wait_begins(BlockedWait& wait) const noexcept override;
  void wait_ends(BlockedWait& wait) const noexcept override;
  void thread_starting() const noexcept override;
  void thread_begins() const noexcept override;
  void thread_ends() const noexcept override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace switchyard::testing
