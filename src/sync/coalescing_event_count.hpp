// src/sync/coalescing_event_count.hpp — an EventCount whose notify wakes the parked
// waiters once and then forgets them, for a notifier that fires on every append.
//
// With the plain EventCount (event_count.hpp) a waiter stays counted from prepare_wait until
// it has run again after its wake-up. A producer appending a record every hundred nanoseconds
// sees "someone waits" on every append during that window (microseconds on a loaded machine)
// and pays a futex syscall per record for threads that are already awake. Here a notify
// that finds waiters takes them all off the count in the same atomic step that wakes them:
// until a thread registers again, further notifies cost one fence and one load.
//
// Protocol (waiter):                          Protocol (notifier):
//   key = ec.prepare_wait();                    make the condition true (any release store)
//   if (condition) ec.cancel_wait(key);         ec.notify_all();
//   else           ec.wait(key, timeout);
//
// State
// -----
//   state_   one 64-bit word: the *round* (high 32 bits) and the number of threads registered
//            in this round (low 32 bits). prepare_wait adds one waiter; a notify that sees
//            waiters swaps in {round + 1, 0 waiters} with a CAS; a waiter leaving (cancel or
//            after its sleep) takes itself off only if the round is still its own (else the
//            notify already did).
//   wake_    the futex word: rises by one per notify that found waiters, after its CAS.
//            prepare_wait reads it (acquire) just before registering, and wait sleeps while
//            it is unchanged.
//
// Why no wake-up is lost: prepare_wait's registration and the notifier's check of state_ are
// ordered by seq_cst fences, as in EventCount: either the waiter's condition check sees the
// notifier's store, or the notifier sees the registration. In the second case some notify
// drops the registration with an acquire CAS that synchronises with the registration's
// release, so the waiter's key (wake_ read *before* registering) predates that notify's wake_
// increment: the waiter's futex sleep returns at once or is woken by the futex_wake that
// follows the increment. A dropped waiter therefore always wakes and re-registers before it
// sleeps again; a notify that found nobody registered is covered by that re-registration's
// fence. Under ThreadSanitizer the fences become acq_rel RMWs of state_ (see event_count.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

#include "switchyard/detail/cache_line.hpp"
#include "sync/event_count.hpp"  // SWITCHYARD_TSAN
#include "sync/futex.hpp"
#include "sync/ready_fd.hpp"

namespace switchyard::detail {

class CoalescingEventCount {
 public:
  /// What a registered waiter needs to wait or leave.
  struct Key {
    std::uint32_t round;  ///< the state_ round it registered in
    std::uint32_t wake;   ///< wake_ as read just before registering
  };

  /// Registers the caller as a waiter. @note threadsafe
  Key prepare_wait() noexcept {
    // Acquire: pairs with notify_all's release increment (its store is then visible). Read
    // before registering, so that a notify which drops this registration is one whose wake_
    // increment this key has not seen (see the file comment).
    const std::uint32_t wake = wake_.load(std::memory_order_acquire);
#ifdef SWITCHYARD_TSAN
    const std::uint64_t before = state_.fetch_add(1, std::memory_order_acq_rel);
#else
    // Release: a notify's acquire CAS that drops this registration synchronises with it, so
    // the wake_ read above happens before that notify's increment.
    const std::uint64_t before = state_.fetch_add(1, std::memory_order_release);
    // Pairs with the fence in load_for_notify (see the file comment).
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    return Key{round_of(before), wake};
  }
  /// Unregisters a waiter whose condition turned out true. @note threadsafe
  void cancel_wait(Key key) noexcept {
    leave(key.round);
  }
  /// The readiness fds this event also signals (sync/ready_fd.hpp): an armed one is a
  /// registered waiter, so a notify finds it and writes it; nobody else pays for them.
  ReadyFdSet& ready_fds() noexcept {
    return ready_fds_;
  }
  /// Sleeps until a notify after `prepare_wait`, or `timeout` passes. @note threadsafe
  void wait(Key key, std::chrono::nanoseconds timeout) noexcept {
    futex_wait(wake_, key.wake, timeout);
    leave(key.round);
  }
  /// Whether a notify came after `prepare_wait` returned `key`. @note threadsafe
  [[nodiscard]] bool notified(Key key) const noexcept {
    // Acquire: as prepare_wait's load of wake_.
    return wake_.load(std::memory_order_acquire) != key.wake;
  }
  /// A key as the opaque integer of a `BlockedWait`, and back.
  static std::uint64_t key_bits(Key key) noexcept {
    return (static_cast<std::uint64_t>(key.round) << 32) | key.wake;
  }
  static Key key_of(std::uint64_t bits) noexcept {
    return Key{static_cast<std::uint32_t>(bits >> 32), static_cast<std::uint32_t>(bits)};
  }
  /// Wakes every registered waiter; one fence and one load when nobody is registered (even if
  /// waiters woken by an earlier notify have not run yet). @note threadsafe
  void notify_all() noexcept {
    std::uint64_t s = load_for_notify();
    while (waiters_of(s) != 0) {
      const std::uint64_t next = static_cast<std::uint64_t>(round_of(s) + 1) << 32;
      // Acquire on success: synchronises with the registrations it drops (their release), so
      // their keys predate the increment below. Relaxed on failure: we retry with the value.
      if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        // Release: pairs with prepare_wait's acquire load of wake_.
        wake_.fetch_add(1, std::memory_order_release);
        futex_wake(wake_, INT_MAX);
        // The CAS above dropped every registration, an armed fd's too: nothing to unregister.
        if (ready_fds_.any()) [[unlikely]]
          ready_fds_.fire([]() noexcept {});
        return;
      }
    }
  }

 private:
  static std::uint32_t round_of(std::uint64_t s) noexcept {
    return static_cast<std::uint32_t>(s >> 32);
  }
  static std::uint32_t waiters_of(std::uint64_t s) noexcept {
    return static_cast<std::uint32_t>(s);
  }

  std::uint64_t load_for_notify() noexcept {
#ifdef SWITCHYARD_TSAN
    return state_.fetch_add(0, std::memory_order_acq_rel);
#else
    // Pairs with the fence in prepare_wait.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return state_.load(std::memory_order_relaxed);
#endif
  }

  void leave(std::uint32_t round) noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    // Relaxed: the count orders nothing; a notify of a later round already dropped us.
    while (round_of(s) == round && waiters_of(s) != 0) {
      if (state_.compare_exchange_weak(s, s - 1, std::memory_order_relaxed)) return;
    }
  }

  alignas(kCacheLine) std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> wake_{0};
  ReadyFdSet ready_fds_;
};

}  // namespace switchyard::detail
