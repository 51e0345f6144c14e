// src/sync/idle_wait.hpp — the one way a broker thread waits for something to change: spin,
// then yield, then park on an event count, as its `WaitStrategy` says.
//
// Every blocked call in the library waits here: a consumer's receive (the queue's ready
// event), a group member's poll (the topic's append event), a sender blocked by
// `Overflow::block` and a publisher blocked by `SlowSubscriber::block` (through
// capacity_gate.hpp), a subscription's dispatch thread. `park` is the only place any of them
// sleeps, so a test kit that replaces real sleeping (virtual time) hooks that one function.
//
// The caller owns the loop: it looks for work; when there is none it calls `pause(hint)`,
// which spins or yields for one round and returns true (look again), until the rounds for
// spinning and yielding are spent; then `pause` returns false and the caller parks:
//
//   IdleWait idle(strategy);
//   for (;;) {
//     if (try_take()) return got;
//     if (deadline passed) return timed_out;
//     if (idle.pause([&] { return work_hint(); })) continue;
//     idle.park(event, [&] { return work_or_stop(); }, now, deadline, clock);
//   }
//
// The three phases, and why these numbers (measured on the 2-vCPU VMs the benchmarks run on,
// where a `pause` costs ~30 ns, a `sched_yield` with another runnable thread ~1-2 us, and a
// park then wake ~20 us of the sleeper's time plus a futex wake-up for the notifier):
//   spin   kSpinRounds rounds of kPausesPerRound pauses (~2 us each), watching a lock-free
//          hint so the round ends the moment work shows up. Catches a handoff in flight: the
//          other side is mid-send and its store is nanoseconds away. The caller re-reads its
//          clock once per round, not per pause (a clock read costs more than many loads).
//   yield  kYieldRounds `sched_yield`s. On a busy machine the thread that will produce the
//          work may be waiting for this core; yielding lets it run without paying a sleep.
//   park   the event count's futex sleep until a notify, the deadline, or the clock's
//          `max_real_sleep()` (a manual clock moves by `advance()`, not by sleeping).
// Under a clock that runs virtual time the spin and yield phases are still real time (they end by
// rounds, not by the clock), so `WaitStrategy::spin` and `yield` never count as blocked there.
// `WaitStrategy::spin` never leaves the first phase, `yield` never the second; both still
// return at the deadline because the caller checks it every round.
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "switchyard/clock.hpp"
#include "switchyard/wait_strategy.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace switchyard::detail {

/// One pause of a spin loop: tells the CPU we are spinning (frees the sibling hyperthread,
/// avoids the memory-order mis-speculation on exit). A no-op elsewhere. @note threadsafe
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

/// The idle wait of one blocked call (see the file comment). Not shared between threads: each
/// call that may wait makes its own, on its stack; it costs nothing until the first pause.
class IdleWait {
 public:
  static constexpr std::uint32_t kSpinRounds = 16;
  static constexpr std::uint32_t kPausesPerRound = 64;
  static constexpr std::uint32_t kYieldRounds = 16;

  /// How many rounds of each phase `WaitStrategy::park` goes through before it parks.
  struct Phases {
    std::uint32_t spin_rounds;
    std::uint32_t yield_rounds;
  };
  /// A waiter for work (consumers, group members, pub/sub threads): spin, then yield.
  static constexpr Phases kForWork{kSpinRounds, kYieldRounds};
  /// A sender held by a full buffer: yield at once and longer, and again after every park (a
  /// consumer on the other core usually frees room within microseconds; spinning first, or
  /// parking at once after the first sleep, cost queue_send_receive_ack_batch64 ~15%).
  static constexpr Phases kForRoom{0, 64};

  explicit IdleWait(WaitStrategy strategy, Phases phases = kForWork) noexcept
      : strategy_(strategy), phases_(phases) {}

  /// Starts over at the first phase (after a park that found nothing to take).
  void restart() noexcept { rounds_ = 0; }

  /// One round of spinning (until `hint()` says work may be there, or the round ends) or one
  /// yield; true. False once the strategy says park: the caller then calls `park`. `hint` is a
  /// cheap lock-free look, called between pauses; it must not block. Never sleeps.
  template <class Hint>
  [[nodiscard]] bool pause(Hint&& hint) noexcept {
    static_assert(std::is_nothrow_invocable_r_v<bool, Hint&>,
                  "pause runs on noexcept paths: hint() must be noexcept and return bool");
    ++rounds_;
    if (strategy_ == WaitStrategy::spin || rounds_ <= phases_.spin_rounds) {
      for (std::uint32_t i = 0; i < kPausesPerRound && !hint(); ++i) cpu_relax();
      return true;
    }
    if (strategy_ == WaitStrategy::yield ||
        rounds_ <= phases_.spin_rounds + phases_.yield_rounds) {
      ::sched_yield();
      return true;
    }
    return false;
  }

  /// Parks on `event` (an EventCount or a CoalescingEventCount) until a notify after this call
  /// registered, or `timeout` of real time passes; returns at once, without sleeping, if
  /// `done()` is true once registered (the check that makes a concurrent notify impossible to
  /// miss — see event_count.hpp) or `timeout` is not positive. Spurious returns are allowed:
  /// the caller looks again. `done` may have effects (a capacity gate takes its room there).
  /// The one place a blocked broker thread sleeps.
  template <class Event, class Done>
  static void park(Event& event, Done&& done, std::chrono::nanoseconds timeout) noexcept {
    static_assert(std::is_nothrow_invocable_r_v<bool, Done&>,
                  "park runs on noexcept paths: done() must be noexcept and return bool");
    const auto key = event.prepare_wait();
    if (timeout.count() <= 0 || done()) {
      if constexpr (requires { event.cancel_wait(key); }) {
        event.cancel_wait(key);
      } else {
        event.cancel_wait();
      }
      return;
    }
    event.wait(key, timeout);
  }

  /// `park` until `wake` by `clock` (read as `now` by the caller), sleeping no longer than the
  /// clock's `max_real_sleep()` nor `longest` of real time at a time. Tells the clock about the
  /// sleep (`Clock::wait_begins` / `wait_ends`, once registered and `done()` is false), so a
  /// clock that runs virtual time knows that this thread is blocked, until when, and how to wake
  /// it: that is the whole of virtual time's view of the broker.
  /// `tick`: the wake is a periodic maintenance pass's (`BlockedWait::tick`).
  template <class Event, class Done>
  static void park(Event& event, Done&& done, TimePoint now, TimePoint wake, const Clock& clock,
                   Duration longest = Duration::max(), bool tick = false) noexcept {
    static_assert(std::is_nothrow_invocable_r_v<bool, Done&>,
                  "park runs on noexcept paths: done() must be noexcept and return bool");
    const auto key = event.prepare_wait();
    if (wake <= now || done()) {
      if constexpr (requires { event.cancel_wait(key); }) {
        event.cancel_wait(key);
      } else {
        event.cancel_wait();
      }
      return;
    }
    BlockedWait blocked{wake, &event, Event::key_bits(key),
                        [](void* e) noexcept { static_cast<Event*>(e)->notify_all(); },
                        [](const BlockedWait& w) noexcept {
                          return static_cast<const Event*>(w.event)->notified(Event::key_of(w.key));
                        },
                        tick};
    clock.wait_begins(blocked);
    event.wait(key, std::min({wake - now, clock.max_real_sleep(), longest}));
    clock.wait_ends(blocked);
  }

 private:
  WaitStrategy strategy_;
  Phases phases_;
  std::uint32_t rounds_ = 0;
};

}  // namespace switchyard::detail
