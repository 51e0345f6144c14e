// switchyard/detail/ring.hpp — bounded lock-free multi-producer multi-consumer ring.
//
// The hot path between producers and consumers. Mechanism only: it knows nothing of acks,
// priorities or deadlines; `Queue` composes those around it.
//
// Layout
//   slots_ : capacity (a power of two) cells, each { turn, storage for one T }.
//   tail_  : next position to write; only producers touch it (own cache line).
//   head_  : next position to read; only consumers touch it (own cache line).
//   A position p lives in cell p & mask_. A cell's `turn` says whose move it is:
//     turn == p          the cell is empty and waits for the producer of position p;
//     turn == p + 1      it holds the item of position p and waits for that consumer;
//     turn == p + cap    the consumer of p is done; the producer of p + cap may write.
//   Cells are not padded to a cache line: turn and item share a line (one miss per hand-off)
//   and memory stays at sizeof(T) + 8 per cell.
//
// Memory orders
//   A producer claims position p with a CAS on tail_ (the claim publishes nothing; it is
//   seq_cst only for waiters that read size_guess(), see try_emplace),
//   constructs the item, then release-stores turn = p + 1. The consumer's acquire-load of that
//   turn is what makes the item visible to it. Symmetrically the consumer release-stores
//   turn = p + cap after moving the item out, and the next producer's acquire-load of turn
//   orders its write after that move.
//
// Contract
//   * try_push / try_pop / try_pop_run are lock-free, noexcept and callable from any number of
//     threads. try_pop_run takes a run of consecutive positions with one CAS on head_.
//   * Linearizable per position; FIFO: items pushed by one thread are popped in push order.
//   * try_push can report "full" while a consumer is part-way through the oldest cell, and
//     try_pop "empty" while a producer is part-way through the next one: both are moments,
//     not errors — callers retry or wait.
//   * size_guess() is exact only when no thread is inside a push or pop.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "switchyard/detail/cache_line.hpp"

namespace switchyard::detail {

template <class T>
class Ring {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "Ring<T> moves items in and out on a noexcept path: T's move constructor "
                "must be noexcept");
  static_assert(std::is_nothrow_destructible_v<T>, "Ring<T> requires a noexcept destructor");

 public:
  /// A ring holding at least `min_capacity` items (rounded up to a power of two, minimum 2).
  explicit Ring(std::size_t min_capacity)
      : mask_(std::bit_ceil(min_capacity < 2 ? std::size_t{2} : min_capacity) - 1),
        slots_(allocate(mask_ + 1)) {
    static_assert(offsetof(Ring, head_) - offsetof(Ring, tail_) == kCacheLine,
                  "producer and consumer indices must sit on separate cache lines");
    if (min_capacity > (std::size_t{1} << 40)) throw std::length_error("Ring capacity too large");
    for (std::size_t i = 0; i <= mask_; ++i) {
      new (&slots_[i]) Slot{};
      slots_[i].turn.store(i, std::memory_order_relaxed);
    }
  }

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  ~Ring() {
    // Single-threaded by contract: destroy the items that were never popped.
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t pos = head_.load(std::memory_order_relaxed); pos != tail; ++pos) {
      slots_[pos & mask_].item()->~T();
    }
    for (std::size_t i = 0; i <= mask_; ++i) slots_[i].~Slot();
    ::operator delete (slots_, std::align_val_t{kCacheLine});
  }

  /// Constructs an item at the tail. False if the ring is full. @note threadsafe, lockfree
  template <class... Args>
  bool try_emplace(Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible_v<T, Args&&...>,
                  "try_emplace runs on a noexcept path: T(Args...) must be noexcept");
    std::uint64_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[pos & mask_];
      // Acquire: pairs with the consumer's release of `turn`, so our write below happens
      // after its move out of this cell.
      const std::uint64_t turn = slot.turn.load(std::memory_order_acquire);
      const auto lag = static_cast<std::int64_t>(turn - pos);
      if (lag == 0) {
        // 1. The cell is ours to fill if we win position `pos`. Seq_cst on success (on x86
        //    the same locked instruction as relaxed): a waiter that registers with an
        //    EventCount and then reads size_guess() sees this claim, so a pusher may wake it
        //    with notify_*_after_seq_cst_rmw (no fence).
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
          new (slot.item()) T(std::forward<Args>(args)...);
          // Release: publishes the item to the consumer that acquires turn == pos + 1.
          slot.turn.store(pos + 1, std::memory_order_release);
          return true;
        }
        // Lost the race: `pos` now holds the current tail; try again there.
      } else if (lag < 0) {
        // 2. The cell still holds the item from one lap ago: full.
        return false;
      } else {
        // 3. Another producer took `pos` already; catch up.
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  /// Moves `item` in at the tail. False (and `item` untouched) if full. @note threadsafe, lockfree
  bool try_push(T&& item) noexcept { return try_emplace(std::move(item)); }

  /// Moves up to `n` items from `items[0..n)` in at the tail, in order, with one CAS on tail_
  /// for the whole run, and returns how many (the free cells seen at the tail, at most `n`;
  /// 0: full). The items not pushed are untouched. The producers' mirror of try_pop_run.
  /// @note threadsafe, lockfree
  std::size_t try_push_run(T* items, std::size_t n) noexcept {
    if (n == 0) return 0;
    std::uint64_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      // Acquire (each look): pairs with the consumers' release of turn == p (the cell of
      // position p is empty), so our writes below come after their moves out.
      const std::uint64_t turn = slots_[pos & mask_].turn.load(std::memory_order_acquire);
      const auto lag = static_cast<std::int64_t>(turn - pos);
      if (lag < 0) return 0;  // the tail cell still holds last lap's item: full
      if (lag > 0) {          // another producer took `pos`; catch up
        pos = tail_.load(std::memory_order_relaxed);
        continue;
      }
      // Count the empty cells waiting at the tail. A cell's turn names its lap, so a match
      // can only be the empty cell of that exact position.
      std::size_t run = 1;
      while (run < n && run <= mask_ &&
             slots_[(pos + run) & mask_].turn.load(std::memory_order_acquire) == pos + run) {
        ++run;
      }
      // Seq_cst on success: as in try_emplace (EventCount waiters read size_guess()).
      if (tail_.compare_exchange_weak(pos, pos + run, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
        for (std::size_t i = 0; i < run; ++i) {
          Slot& slot = slots_[(pos + i) & mask_];
          new (slot.item()) T(std::move(items[i]));
          // Release: publishes the item to the consumer that acquires turn == pos + i + 1.
          slot.turn.store(pos + i + 1, std::memory_order_release);
        }
        return run;
      }
      // Lost the race: `pos` now holds the current tail; look again from there.
    }
  }

  /// Moves the head item into `out`. False if empty. @note threadsafe, lockfree
  bool try_pop(T& out) noexcept {
    std::uint64_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[pos & mask_];
      // Acquire: pairs with the producer's release of turn == pos + 1 (the item is visible).
      const std::uint64_t turn = slot.turn.load(std::memory_order_acquire);
      const auto lag = static_cast<std::int64_t>(turn - (pos + 1));
      if (lag == 0) {
        // 1. An item waits at `pos`; it is ours if we win the position.
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                        std::memory_order_relaxed)) {
          T* item = slot.item();
          out = std::move(*item);
          item->~T();
          // Release: hands the empty cell to the producer of position pos + capacity.
          slot.turn.store(pos + mask_ + 1, std::memory_order_release);
          return true;
        }
      } else if (lag < 0) {
        // 2. No item has been published at `pos` yet: empty.
        return false;
      } else {
        // 3. Another consumer took `pos`; catch up.
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  /// Takes up to `max` items from the head, calling `take(T&&)` on each in order, and returns
  /// how many (0: empty). One CAS claims the whole run: the items published in order from the
  /// head at the moment of the look. `take` must not throw. @note threadsafe, lockfree
  template <class Take>
  std::size_t try_pop_run(std::size_t max, Take&& take) noexcept {
    static_assert(std::is_nothrow_invocable_v<Take&, T&&>,
                  "try_pop_run runs on a noexcept path: take(T&&) must be noexcept");
    if (max == 0) return 0;
    std::uint64_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      // Acquire (each look): pairs with the producers' release of turn == p + 1.
      const std::uint64_t turn = slots_[pos & mask_].turn.load(std::memory_order_acquire);
      const auto lag = static_cast<std::int64_t>(turn - (pos + 1));
      if (lag < 0) return 0;  // nothing published at the head: empty
      if (lag > 0) {          // another consumer took `pos`; catch up
        pos = head_.load(std::memory_order_relaxed);
        continue;
      }
      // Count the run published behind the head. A cell's turn names its lap, so a match
      // can only be the item of that exact position.
      std::size_t n = 1;
      while (n < max && n <= mask_ &&
             slots_[(pos + n) & mask_].turn.load(std::memory_order_acquire) == pos + n + 1) {
        ++n;
      }
      if (head_.compare_exchange_weak(pos, pos + n, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        for (std::size_t i = 0; i < n; ++i) {
          Slot& slot = slots_[(pos + i) & mask_];
          T* item = slot.item();
          take(std::move(*item));
          item->~T();
          // Release: hands the empty cell to the producer of position pos + i + capacity.
          slot.turn.store(pos + i + mask_ + 1, std::memory_order_release);
        }
        return n;
      }
      // Lost the race: `pos` now holds the current head; look again from there.
    }
  }

  /// Number of cells. @note threadsafe
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Items in the ring, exact only when no push or pop is in progress. @note threadsafe
  [[nodiscard]] std::size_t size_guess() const noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    return tail > head ? static_cast<std::size_t>(tail - head) : 0;
  }

  /// Whether no item is published at the head (a hint: another consumer may take it first).
  /// Looks at the consumers' index and the head cell only — never at tail_ — so a consumer
  /// polling it does not pull the producers' line away from them on every check. It errs
  /// towards "not empty": a stale head finds a cell already consumed, which reads as an item.
  /// @note threadsafe
  [[nodiscard]] bool empty_guess() const noexcept {
    const std::uint64_t pos = head_.load(std::memory_order_relaxed);
    // Acquire: pairs with the producer's release of turn == pos + 1 (as in try_pop).
    const std::uint64_t turn = slots_[pos & mask_].turn.load(std::memory_order_acquire);
    return static_cast<std::int64_t>(turn - (pos + 1)) < 0;
  }

 private:
  struct Slot {
    std::atomic<std::uint64_t> turn{0};
    alignas(T) std::byte storage[sizeof(T)];
    T* item() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  static Slot* allocate(std::size_t n) {
    return static_cast<Slot*>(::operator new (n * sizeof(Slot), std::align_val_t{kCacheLine}));
  }

  const std::size_t mask_;
  Slot* const slots_;
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producers only
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumers only
  // Keeps whatever the allocator places next off head_'s line.
  [[maybe_unused]] std::byte pad_[kCacheLine - sizeof(std::atomic<std::uint64_t>)]{};

  static_assert(sizeof(std::atomic<std::uint64_t>) == 8);
};

}  // namespace switchyard::detail
