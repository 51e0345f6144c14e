// src/sync/spill_ring.hpp — a lock-free ring of bounded size with a spill lane behind
// it: memory follows what is queued, not the limit the owner enforces.
//
// Mechanism only, like Ring: it holds any number of items (the owner counts and limits them)
// and knows nothing of capacity, acks or priorities.
//
// Data structures
//   ring_     Ring<T> of min(limit, kMaxRingCells) cells: the hot path while the backlog fits.
//   spill_    under mutex_: std::deque<T> of the items that came while the ring was full or the
//             spill was not empty (it allocates in blocks as it grows and frees as it drains).
//   spilled_  the spill's size, written under mutex_, read lock-free as the "spill is not
//             empty" hint. On its own cache line: written only while spilling, so the hot
//             path reads it from its own cache.
//
// The rule that keeps FIFO
//   (1) A push goes to the ring only while spilled_ reads 0; otherwise, and when the ring is
//       full, it goes to the spill.
//   (2) A pop takes from the ring; from the spill only when the ring holds nothing and no push
//       into the ring is part-way (under mutex_, ring head == tail).
//   Take items a placed before b (a's push returned before b's began — one thread's pushes, or
//   pushes ordered by the caller's own synchronisation). Then a is popped first:
//     * both in the ring, or both in the spill: each is FIFO.
//     * a in the spill, b in the ring: by (1) b's push read spilled_ == 0, which it can only
//       after a has left the spill (a's spill push stored spilled_ > 0 before b began, and
//       coherence forbids b reading an older value), so a was popped before b was pushed.
//     * a in the ring, b in the spill: a pop that takes b holds mutex_ after b's push, which
//       came after a's push claimed tail_; by (2) it sees head == tail, so a's position is
//       behind the head: a was popped first.
//   Pushes that overlap in time have no order to keep; they are linearized where they land.
//
// Memory orders
//   spilled_ is stored (release; a seq_cst exchange when it grows, for EventCount waiters)
//   under mutex_ and loaded (acquire) outside it; the mutex orders
//   the items, the hint only says "look" — and by (1) a push that reads a stale non-zero value
//   merely takes the mutex. Ring's own orders cover the ring (ring.hpp).
//
// Contract
//   * try_push / try_pop / try_pop_run are noexcept and callable from any number of threads.
//     They are lock-free while the spill is empty; spilling and popping the spill take mutex_
//     (short, never nested with another lock).
//   * try_push fails only when the spill cannot allocate (the item is left untouched).
//   * try_pop / try_pop_run can report "empty" while a push is part-way (a moment, as in Ring).
//   * size_guess() is exact only when no push or pop is in progress.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <new>
#include <type_traits>
#include <utility>

#include "switchyard/detail/cache_line.hpp"
#include "switchyard/detail/ring.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

template <class T>
class SpillRing {
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "SpillRing<T>::try_pop move-assigns into the caller's object: T's move "
                "assignment must be noexcept");

 public:
  /// The most ring cells, whatever the limit: 4096 cells keep a backlog of a few thousand
  /// lock-free (the queue benchmarks stay within it) for 64 KiB with 8-byte items.
  static constexpr std::size_t kMaxRingCells = 4096;

  /// Room for any number of items; the ring part holds min(`limit`, kMaxRingCells).
  explicit SpillRing(std::size_t limit) : ring_(std::min(limit, kMaxRingCells)) {}

  /// Moves `item` in at the back. False only when out of memory (`item` untouched).
  /// @note threadsafe; lock-free while nothing is spilled
  [[gnu::always_inline]] bool try_push(T&& item) noexcept {
    // Acquire: pairs with the release stores of spilled_ (see "The rule that keeps FIFO").
    if (spilled_.load(std::memory_order_acquire) == 0 && ring_.try_push(std::move(item))) {
      return true;
    }
    return spill(std::move(item), SIZE_MAX) == Push::done;
  }

  /// Moves `items[0..n)` in at the back, in order: while nothing is spilled, as many as fit
  /// into the ring with one claim, the rest one by one as try_push would (ring or spill).
  /// Returns how many; fewer than `n` only when out of memory (`items[k..n)` untouched).
  /// @note threadsafe; lock-free while nothing is spilled
  std::size_t try_push_run(T* items, std::size_t n) noexcept {
    std::size_t pushed = 0;
    // Acquire: as in try_push (rule (1) holds for every item of the run: each goes to the
    // ring only while spilled_ reads 0 — the run's claim is one such read for all of them).
    if (spilled_.load(std::memory_order_acquire) == 0) pushed = ring_.try_push_run(items, n);
    for (; pushed < n; ++pushed) {
      if (!try_push(std::move(items[pushed]))) break;
    }
    return pushed;
  }

  enum class Push : std::uint8_t { done, full, out_of_memory };
  /// Like try_push, for an owner that keeps no count of its own: `full` when the ring is full
  /// (a ring of at most `limit` cells holds at most that) and spilling would hold `limit` or
  /// more. @note threadsafe; lock-free while nothing is spilled
  Push try_push_within(T&& item, std::size_t limit) noexcept {
    // Acquire: as in try_push.
    if (spilled_.load(std::memory_order_acquire) == 0 && ring_.try_push(std::move(item))) {
      return Push::done;
    }
    return spill(std::move(item), limit);
  }

  /// Moves the front item into `out`. False if empty (or a push is part-way). @note threadsafe
  [[gnu::always_inline]] bool try_pop(T& out) noexcept {
    if (ring_.try_pop(out)) return true;
    // Acquire: as in try_push.
    if (spilled_.load(std::memory_order_acquire) == 0) return false;
    return pop_spilled(out);
  }

  /// Takes up to `max` items from the front, calling `take(T&&)` on each in order; how many.
  /// A run comes from the ring or from the spill, never both. @note threadsafe
  template <class Take>
  std::size_t try_pop_run(std::size_t max, Take&& take) noexcept {
    static_assert(std::is_nothrow_invocable_v<Take&, T&&>,
                  "try_pop_run runs on a noexcept path: take(T&&) must be noexcept");
    const std::size_t n = ring_.try_pop_run(max, take);
    if (n != 0 || max == 0 || spilled_.load(std::memory_order_acquire) == 0) return n;
    MutexLock lock(mutex_);
    if (const std::size_t again = ring_.try_pop_run(max, take); again != 0) return again;
    if (ring_.size_guess() != 0) return 0;  // a push into the ring is part-way: it goes first
    std::size_t taken = 0;
    for (; taken < max && !spill_.empty(); ++taken) {
      take(std::move(spill_.front()));
      spill_.pop_front();
    }
    // Release: see "Memory orders".
    spilled_.store(spill_.size(), std::memory_order_release);
    return taken;
  }

  /// Whether nothing is there to pop (a hint: it errs towards "not empty"). Touches the
  /// consumers' side of the ring and the spill hint only. @note threadsafe
  [[nodiscard]] bool empty_guess() const noexcept {
    return ring_.empty_guess() && spilled_.load(std::memory_order_acquire) == 0;
  }

  /// Items held, exact only when no push or pop is in progress. @note threadsafe
  [[nodiscard]] std::size_t size_guess() const noexcept {
    return ring_.size_guess() + spilled_.load(std::memory_order_relaxed);
  }

  /// Items in the spill now (a hint). @note threadsafe
  [[nodiscard]] std::size_t spilled_guess() const noexcept {
    return spilled_.load(std::memory_order_relaxed);
  }

  /// Cells of the ring part. @note threadsafe
  [[nodiscard]] std::size_t ring_capacity() const noexcept { return ring_.capacity(); }

 private:
  [[gnu::noinline]] Push spill(T&& item, std::size_t limit) noexcept {
    MutexLock lock(mutex_);
    if (limit != SIZE_MAX && ring_.size_guess() + spill_.size() >= limit) return Push::full;
    try {
      spill_.push_back(std::move(item));  // strong guarantee: on a throw, `item` is untouched
    } catch (const std::bad_alloc&) {
      return Push::out_of_memory;
    }
    // Seq_cst RMW (release would do for takers): a waiter that registers with an EventCount
    // and then reads size_guess() sees the item, so the pusher may wake it with
    // notify_*_after_seq_cst_rmw as after a ring push (event_count.hpp).
    (void)spilled_.exchange(spill_.size(), std::memory_order_seq_cst);
    return Push::done;
  }

  [[gnu::noinline]] bool pop_spilled(T& out) noexcept {
    MutexLock lock(mutex_);
    // A ring item pushed before the spill's front goes first (case 3 of the FIFO rule).
    if (ring_.try_pop(out)) return true;
    if (ring_.size_guess() != 0 || spill_.empty()) return false;
    out = std::move(spill_.front());
    spill_.pop_front();
    // Release: see "Memory orders".
    spilled_.store(spill_.size(), std::memory_order_release);
    return true;
  }

  Ring<T> ring_;
  alignas(kCacheLine) std::atomic<std::size_t> spilled_{0};
  Mutex mutex_;
  std::deque<T> spill_ GUARDED_BY(mutex_);
};

}  // namespace switchyard::detail
