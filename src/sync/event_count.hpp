// src/sync/event_count.hpp — "something may have changed" between threads.
//
// Lets a thread sleep until a condition that lives elsewhere (a ring, a counter) may have
// become true, without making the notifier pay for a syscall when nobody sleeps.
//
// Protocol (waiter):                      Protocol (notifier):
//   key = ec.prepare_wait();                make the condition true (any release store)
//   if (condition) ec.cancel_wait();        ec.notify_all();
//   else           ec.wait(key, timeout);
//
// Why no wake-up is lost: prepare_wait increments waiters_ and then issues a seq_cst fence;
// notify issues a seq_cst fence and then reads waiters_. By the fence-fence rule either the
// waiter's condition check sees the notifier's store, or the notifier sees waiters_ > 0 and
// bumps epoch_, which makes the futex wait (keyed on the old epoch) return at once.
//
// A notifier whose change of the condition was itself a seq_cst read-modify-write (waiters
// checking it after prepare_wait) may call the *_after_seq_cst_rmw variants, which read waiters_
// with a seq_cst load and no fence. If the notifier read no waiter, its load precedes the
// waiter's fence in the seq_cst order S (the load is coherence-ordered before the waiter's
// increment, which is sequenced before the fence); the notifier's RMW precedes its load in S;
// so the RMW precedes the waiter's fence, and the waiter's check after that fence sees it.
// On x86 a seq_cst RMW is the same locked instruction as a relaxed one and a seq_cst load is a
// plain load: the notifier's fence (the store-buffer drain) is gone.
//
// Under ThreadSanitizer (which does not model fences, and GCC refuses them there) both sides
// use an acq_rel read-modify-write of waiters_ instead: the RMWs are totally ordered, so either
// the notifier's RMW reads the waiter's increment, or the waiter's RMW reads the notifier's and
// synchronises with it (seeing the condition). Equivalent guarantee; the fence costs less on
// the notifier's hot path because it writes no shared line.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

#include "switchyard/detail/cache_line.hpp"
#include "sync/futex.hpp"
#include "sync/ready_fd.hpp"

#if defined(__SANITIZE_THREAD__)
#define SWITCHYARD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SWITCHYARD_TSAN 1
#endif
#endif

namespace switchyard::detail {

class EventCount {
 public:
  /// Registers the caller as a waiter and returns the key to wait on. @note threadsafe
  std::uint32_t prepare_wait() noexcept {
#ifdef SWITCHYARD_TSAN
    waiters_.fetch_add(1, std::memory_order_acq_rel);
#else
    waiters_.fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    return epoch_.load(std::memory_order_acquire);
  }
  /// Unregisters a waiter whose condition turned out true. @note threadsafe
  void cancel_wait() noexcept {
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }
  /// Sleeps until notified after `key` was taken, or `timeout` passes. @note threadsafe
  void wait(std::uint32_t key, std::chrono::nanoseconds timeout) noexcept {
    futex_wait(epoch_, key, timeout);
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }
  /// Wakes every waiter; costs one fence and one load when nobody waits. @note threadsafe
  void notify_all() noexcept {
    if (!no_waiters()) wake(INT_MAX);
  }
  /// Wakes one waiter (others stay asleep until their timeout or the next notify).
  void notify_one() noexcept {
    if (!no_waiters()) wake(1);
  }
  /// notify_all / notify_one right after the caller changed the condition with a seq_cst
  /// read-modify-write (see the file comment): no fence. @note threadsafe
  void notify_all_after_seq_cst_rmw() noexcept {
    if (!no_waiters_after_seq_cst_rmw()) wake(INT_MAX);
  }
  void notify_one_after_seq_cst_rmw() noexcept {
    if (!no_waiters_after_seq_cst_rmw()) wake(1);
  }
  /// The readiness fds this event also signals (sync/ready_fd.hpp): an armed one counts as a
  /// waiter, so a notify finds it and `wake` writes it; nobody else pays for them.
  ReadyFdSet& ready_fds() noexcept {
    return ready_fds_;
  }
  /// Whether a notify came after `prepare_wait` returned `key` (the sleeper on it is about to
  /// run). @note threadsafe
  [[nodiscard]] bool notified(std::uint32_t key) const noexcept {
    // Acquire: as prepare_wait's load of epoch_.
    return epoch_.load(std::memory_order_acquire) != key;
  }
  /// A key as the opaque integer of a `BlockedWait`, and back.
  static std::uint64_t key_bits(std::uint32_t key) noexcept {
    return key;
  }
  static std::uint32_t key_of(std::uint64_t bits) noexcept {
    return static_cast<std::uint32_t>(bits);
  }
  /// Whether anyone is registered (a hint). @note threadsafe
  [[nodiscard]] bool has_waiters() const noexcept {
    return waiters_.load(std::memory_order_relaxed) != 0;
  }

 private:
  bool no_waiters() noexcept {
#ifdef SWITCHYARD_TSAN
    return waiters_.fetch_add(0, std::memory_order_acq_rel) == 0;
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return waiters_.load(std::memory_order_relaxed) == 0;
#endif
  }

  /// Moves the epoch on (a sleeper keyed on the old one returns) and wakes up to `count`.
  void wake(int count) noexcept {
    epoch_.fetch_add(1, std::memory_order_release);
    futex_wake(epoch_, count);
    if (ready_fds_.any()) [[unlikely]] {
      // Each armed fd was one registered waiter: it leaves here, as a sleeper leaves in wait.
      ready_fds_.fire([this]() noexcept { waiters_.fetch_sub(1, std::memory_order_relaxed); });
    }
  }

  bool no_waiters_after_seq_cst_rmw() noexcept {
#ifdef SWITCHYARD_TSAN
    return no_waiters();
#else
    return waiters_.load(std::memory_order_seq_cst) == 0;
#endif
  }

  alignas(kCacheLine) std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> waiters_{0};
  ReadyFdSet ready_fds_;
};

}  // namespace switchyard::detail
