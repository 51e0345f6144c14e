// VirtualClock: the rule is in include/switchyard/testing/virtual_clock.hpp.
//
// State, all under one mutex: the participant count, the set of live participant threads, the
// broker's sleepers (BlockedWait pointers into the sleeping threads' stacks, valid until their
// wait_ends, which needs the mutex), and the clock's own waiters (callers of advance,
// wait_until_idle and join, on their stacks too). Time itself is an atomic, written only under
// the mutex, so now() is one relaxed load.
//
// Every change that can make the flow blocked (a sleep begins, a participant ends, a waiter
// registers) runs `settle`, which moves time while every participant is blocked. Notifying a
// sleeper's event under the mutex is safe: the notify takes no lock of ours, and the sleeper
// cannot leave (wait_ends) meanwhile, so its event is alive.
#include "switchyard/testing/virtual_clock.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/detail/deadline.hpp"
#include "sync/mutex.hpp"

namespace switchyard::testing {

using detail::CondVar;
using detail::Mutex;
using detail::MutexLock;

namespace {
/// The clock this thread is a participant of (nullptr: none).
thread_local const void* t_participant_of = nullptr;
/// Whether this thread was started as a participant (thread_begins ran on it).
thread_local bool t_started = false;
}  // namespace

struct VirtualClock::State {
  struct Sleeper {
    BlockedWait* wait;
    bool participant;
  };
  /// A caller of advance / wait_until_idle (`until` is set, `joining` is not) or of join.
  struct Waiter {
    TimePoint until = TimePoint::max();
    bool participant = false;
    bool done = false;
    std::thread::id joining{};
  };

  explicit State(Options o)
      : options(std::move(o)),
        now_ns(options.start.time_since_epoch().count()),
        wall_offset_ns(options.wall_start.time_since_epoch().count() -
                       options.start.time_since_epoch().count()) {}

  Options options;
  std::atomic<std::int64_t> now_ns;
  std::int64_t wall_offset_ns;
  std::atomic<std::uint64_t> jumps{0};

  mutable Mutex mutex;
  CondVar moved;  // a waiter's `done` was set
  std::size_t participants GUARDED_BY(mutex) = 0;
  std::vector<std::thread::id> live GUARDED_BY(mutex);  // participant threads running bodies
  std::vector<Sleeper> sleepers GUARDED_BY(mutex);
  std::vector<Waiter*> waiters GUARDED_BY(mutex);

  TimePoint time() const noexcept {
    // Relaxed: written under the mutex; a thread that must see a move takes the mutex (every
    // sleeper does, in wait_ends) or reads it after a notify that came after the store.
    return TimePoint(Duration(now_ns.load(std::memory_order_relaxed)));
  }

  bool alive(std::thread::id id) const REQUIRES(mutex) {
    return std::find(live.begin(), live.end(), id) != live.end();
  }

  std::size_t blocked_locked() const REQUIRES(mutex) {
    std::size_t n = 0;
    for (const Sleeper& s : sleepers) n += s.participant && !s.wait->notified(*s.wait);
    for (const Waiter* w : waiters) {
      if (!w->participant || w->done) continue;
      n += w->joining == std::thread::id{} || alive(w->joining);
    }
    return n;
  }

  /// Notifies every sleeper due by now; true if any was.
  bool wake_due_locked() REQUIRES(mutex) {
    const TimePoint t = time();
    bool any = false;
    for (const Sleeper& s : sleepers) {
      if (s.wait->wake <= t && !s.wait->notified(*s.wait)) {
        s.wait->notify(s.wait->event);
        any = true;
      }
    }
    return any;
  }

  std::string describe_locked() const REQUIRES(mutex) {
    std::string what = "switchyard::testing::VirtualClock: every thread of the test is blocked";
    what += " and time cannot move (" + std::to_string(participants) + " participants, " +
            std::to_string(sleepers.size()) + " sleeping in the broker";
    std::size_t never = 0;
    for (const Sleeper& s : sleepers) never += s.wait->wake == TimePoint::max() || s.wait->tick;
    what += ", " + std::to_string(never) + " of them with no deadline (or only a maintenance tick)";
    what += ", virtual time " +
            std::to_string((time() - options.start) / std::chrono::milliseconds(1)) +
            " ms after the start). A receive, poll or await without a timeout waits for a "
            "message that nothing will send.";
    return what;
  }

  void deadlock_locked() REQUIRES(mutex) {
    const std::string what = describe_locked();
    if (options.on_deadlock) {
      options.on_deadlock(what);
      return;
    }
    std::fprintf(stderr, "%s\n", what.c_str());
    std::abort();
  }

  /// Moves time while every participant is blocked (see the file comment).
  void settle_locked() REQUIRES(mutex) {
    for (;;) {
      if (blocked_locked() != participants) return;
      // Quiet: first, release waiters whose time has come (the flow has settled at it).
      const TimePoint t = time();
      bool released = false;
      for (Waiter* w : waiters) {
        if (!w->done && w->joining == std::thread::id{} && w->until <= t) {
          w->done = true;
          released = true;
        }
      }
      if (released) {
        moved.notify_all();
        if (std::any_of(waiters.begin(), waiters.end(),
                        [](const Waiter* w) { return w->participant && w->done; })) {
          return;  // a participant runs again
        }
        continue;
      }
      // A tick (BlockedWait::tick) is taken on the way to a deadline of the flow, never for
      // its own sake: with only ticks left the flow is stuck.
      TimePoint next = TimePoint::max();
      TimePoint next_tick = TimePoint::max();
      TimePoint target = TimePoint::max();  // the nearest advance target
      for (const Sleeper& s : sleepers) {
        TimePoint& nearest = s.wait->tick ? next_tick : next;
        nearest = std::min(nearest, s.wait->wake);
      }
      for (const Waiter* w : waiters) {
        if (!w->done && w->joining == std::thread::id{}) target = std::min(target, w->until);
      }
      if (!options.auto_advance) {
        if (target == TimePoint::max()) return;  // only advance moves time
      }
      next = std::min(next, target);
      if (next == TimePoint::max() ||
          (target == TimePoint::max() &&
           next > detail::deadline_after(options.start, options.horizon))) {
        if (participants != 0) deadlock_locked();
        return;
      }
      next = std::min(next, next_tick);
      if (next > t) {
        // Relaxed: see time().
        now_ns.store(next.time_since_epoch().count(), std::memory_order_relaxed);
        jumps.fetch_add(1, std::memory_order_relaxed);
      }
      if (wake_due_locked()) return;  // the woken run; the next block settles again
    }
  }

  /// Registers `w`, settles, and waits until it is done.
  void wait_locked(Waiter& w) REQUIRES(mutex) {
    waiters.push_back(&w);
    settle_locked();
    while (!w.done) moved.wait(mutex);
    std::erase(waiters, &w);
  }
};

VirtualClock::VirtualClock() : VirtualClock(Options{}) {}

VirtualClock::VirtualClock(Options options) : state_(std::make_unique<State>(std::move(options))) {
  MutexLock lock(state_->mutex);
  ++state_->participants;
  state_->live.push_back(std::this_thread::get_id());
  t_participant_of = this;
}

VirtualClock::~VirtualClock() {
  if (t_participant_of == this) t_participant_of = nullptr;
}

TimePoint VirtualClock::now() const noexcept {
  return state_->time();
}

Timestamp VirtualClock::wall_now() const noexcept {
  return stamp().wall;
}

Stamp VirtualClock::stamp() const noexcept {
  const TimePoint t = state_->time();
  return {t, Timestamp(Duration(t.time_since_epoch().count() + state_->wall_offset_ns))};
}

Duration VirtualClock::max_real_sleep() const noexcept {
  return Duration::max();
}

TimePoint VirtualClock::advance(Duration d) {
  State::Waiter w;
  w.participant = t_participant_of == this;
  MutexLock lock(state_->mutex);
  w.until = detail::deadline_after(state_->time(), std::max(d, Duration{0}));
  state_->wait_locked(w);
  return state_->time();
}

void VirtualClock::wait_until_idle() {
  (void)advance(Duration{0});
}

void VirtualClock::join(std::thread& t) {
  State::Waiter w;
  w.participant = t_participant_of == this;
  w.joining = t.get_id();
  {
    MutexLock lock(state_->mutex);
    state_->waiters.push_back(&w);
    state_->settle_locked();
  }
  t.join();
  MutexLock lock(state_->mutex);
  std::erase(state_->waiters, &w);
}

std::size_t VirtualClock::participants() const noexcept {
  MutexLock lock(state_->mutex);
  return state_->participants;
}

std::size_t VirtualClock::blocked() const noexcept {
  MutexLock lock(state_->mutex);
  return state_->blocked_locked();
}

std::uint64_t VirtualClock::jumps() const noexcept {
  return state_->jumps.load(std::memory_order_relaxed);
}

void VirtualClock::wait_begins(BlockedWait& wait) const noexcept {
  MutexLock lock(state_->mutex);
  try {
    state_->sleepers.push_back({&wait, t_participant_of == this});
  } catch (...) {
    return;  // out of memory: this sleep holds time back no longer than a real sleep would
  }
  // A wake already due (the caller read the time before the last jump) is notified at once.
  if (wait.wake <= state_->time()) {
    wait.notify(wait.event);
    return;
  }
  state_->settle_locked();
}

void VirtualClock::wait_ends(BlockedWait& wait) const noexcept {
  MutexLock lock(state_->mutex);
  std::erase_if(state_->sleepers, [&](const State::Sleeper& s) { return s.wait == &wait; });
}

void VirtualClock::thread_starting() const noexcept {
  MutexLock lock(state_->mutex);
  ++state_->participants;
}

void VirtualClock::thread_begins() const noexcept {
  t_participant_of = this;
  t_started = true;
  MutexLock lock(state_->mutex);
  try {
    state_->live.push_back(std::this_thread::get_id());
  } catch (...) {
    // Out of memory: a join of this thread then counts as running (holds time back).
  }
}

void VirtualClock::thread_ends() const noexcept {
  MutexLock lock(state_->mutex);
  if (t_started && t_participant_of == this) {  // not the starter of a thread that failed
    std::erase(state_->live, std::this_thread::get_id());
    t_participant_of = nullptr;
    t_started = false;
  }
  if (state_->participants > 0) --state_->participants;
  state_->settle_locked();
}

}  // namespace switchyard::testing
