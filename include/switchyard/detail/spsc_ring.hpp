// switchyard/detail/spsc_ring.hpp — bounded lock-free single-producer single-consumer ring.
//
// The hand-off between exactly one producing thread and exactly one consuming thread (a
// partition's writer and its reader, a worker's private inbox). Mechanism only, like Ring.
//
// Layout
//   slots_ : capacity (a power of two) cells, each { seq, storage for one T }; position p
//            lives in cell p & mask_. seq == p + 1 says "the item of position p is here";
//            any other value says "empty" to the consumer of p.
//   producer line : tail_ (next position to write) and cached_head_ (the producer's last
//            look at head_). Written by the producer only; tail_ is read elsewhere only by
//            size_guess() and the destructor.
//   consumer line : head_ (next position to read). Written by the consumer, read by the
//            producer only when its cached copy says the ring is full.
//   Positions are 64-bit and never wrap.
//
// Why this shape: when the consumer keeps up, the ring is nearly empty and every item crosses
// between the cores as soon as it is written. A ring that signals "item ready" through a tail
// index makes that crossing move two cache lines (the index and the slot); here the ready flag
// lives in the slot, so one line moves, and it carries several items when the consumer lags a
// little. The producer learns about free cells from head_, which it reads only when its cached
// copy runs out (rigtorp's SPSCQueue caches both indices; Vyukov's rings put the turn in the
// cell — we take one idea from each; the code is ours).
//
// Memory orders
//   The producer constructs the item, then release-stores seq = p + 1; the consumer's
//   acquire-load of that seq makes the item visible. The consumer moves the item out and
//   destroys it, then release-stores head_; the producer's acquire-load of head_ orders its
//   next construction in that cell after the move. tail_ is published relaxed: nobody
//   synchronizes through it.
//
// Contract
//   * At most one thread uses the push side (try_emplace, try_push, try_push_n) at a time and
//     at most one thread uses the pop side (try_pop, try_pop_n) at a time; handing a side to
//     another thread must itself synchronize (a join, a mutex, a release/acquire pair).
//   * Every call is wait-free and noexcept; items come out in the order they went in.
//   * try_push reports "full" only when capacity() items are in the ring; try_pop reports
//     "empty" only when no completed push is waiting.
//   * size_guess() is a moment's view that either side may already have changed.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "switchyard/detail/cache_line.hpp"

namespace switchyard::detail {

template <class T>
class SpscRing {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "SpscRing<T> moves items in and out on a noexcept path: T's move constructor "
                "must be noexcept");
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "SpscRing<T>::try_pop move-assigns into the caller's object: T's move "
                "assignment must be noexcept");
  static_assert(std::is_nothrow_destructible_v<T>, "SpscRing<T> requires a noexcept destructor");

 public:
  /// A ring holding at least `min_capacity` items (rounded up to a power of two, minimum 2).
  /// Throws std::length_error above 2^40 items, std::bad_alloc if memory runs out.
  explicit SpscRing(std::size_t min_capacity)
      : mask_(std::bit_ceil(min_capacity < 2 ? std::size_t{2} : min_capacity) - 1),
        slots_(allocate(min_capacity, mask_ + 1)) {
    static_assert(offsetof(SpscRing, head_) - offsetof(SpscRing, tail_) == kCacheLine,
                  "the producer's and the consumer's indices must sit on separate cache lines");
    static_assert(offsetof(SpscRing, mask_) - offsetof(SpscRing, head_) == kCacheLine,
                  "the read-only fields must not share the consumer's cache line");
  }

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  ~SpscRing() {
    // Single-threaded by contract: destroy the items that were never popped.
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t pos = head_.load(std::memory_order_relaxed); pos != tail; ++pos) {
      slots_[pos & mask_].item()->~T();
    }
    for (std::size_t i = 0; i <= mask_; ++i) slots_[i].~Slot();
    ::operator delete (slots_, std::align_val_t{kCacheLine});
  }

  /// Constructs an item at the tail. False if the ring is full. @note producer only, wait-free
  template <class... Args>
  bool try_emplace(Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible_v<T, Args&&...>,
                  "try_emplace runs on a noexcept path: T(Args...) must be noexcept");
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // we are its only writer
    if (tail - cached_head_ > mask_ && !refresh_head(tail, 1)) return false;
    Slot& slot = slots_[tail & mask_];
    new (slot.item()) T(std::forward<Args>(args)...);
    // Release: publishes the item to the consumer's acquire-load of seq.
    slot.seq.store(tail + 1, std::memory_order_release);
    tail_.store(tail + 1, std::memory_order_relaxed);
    return true;
  }

  /// Moves `item` in at the tail. False (and `item` untouched) if full. @note producer only
  bool try_push(T&& item) noexcept { return try_emplace(std::move(item)); }
  /// Copies `item` in at the tail. False if full. @note producer only
  bool try_push(const T& item) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    return try_emplace(item);
  }

  /// Copies up to `n` items from `first`, in order; returns how many fit (0 if full).
  /// @note producer only, wait-free
  std::size_t try_push_n(const T* first,
                         std::size_t n) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (capacity() - (tail - cached_head_) < n) refresh_head(tail, n);
    const std::size_t count = std::min<std::uint64_t>(capacity() - (tail - cached_head_), n);
    for (std::size_t i = 0; i < count; ++i) {
      Slot& slot = slots_[(tail + i) & mask_];
      new (slot.item()) T(first[i]);
      // Release: as in try_emplace, one item at a time (the consumer may start early).
      slot.seq.store(tail + i + 1, std::memory_order_release);
    }
    tail_.store(tail + count, std::memory_order_relaxed);
    return count;
  }

  /// Moves the head item into `out`. False if empty. @note consumer only, wait-free
  bool try_pop(T& out) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);  // we are its only writer
    Slot& slot = slots_[head & mask_];
    // Acquire: pairs with the producer's release of seq (the item is visible).
    if (slot.seq.load(std::memory_order_acquire) != head + 1) return false;
    T* item = slot.item();
    out = std::move(*item);
    item->~T();
    // Release: hands the cell back to the producer's acquire-load of head_.
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  /// Moves up to `n` head items into `out[0..)` and frees their cells with one store; returns
  /// how many (0 if empty). @note consumer only, wait-free
  std::size_t try_pop_n(T* out, std::size_t n) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    std::size_t count = 0;
    for (; count < n; ++count) {
      Slot& slot = slots_[(head + count) & mask_];
      // Acquire: as in try_pop.
      if (slot.seq.load(std::memory_order_acquire) != head + count + 1) break;
      T* item = slot.item();
      out[count] = std::move(*item);
      item->~T();
    }
    // Release: hands all `count` cells back at once.
    if (count != 0) head_.store(head + count, std::memory_order_release);
    return count;
  }

  /// Number of cells. @note threadsafe
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Items in the ring; a moment's view that either side may already have changed, never
  /// above capacity(). @note threadsafe
  [[nodiscard]] std::size_t size_guess() const noexcept {
    // Head first: tail only grows, so a tail read later is at least the tail of that moment.
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint64_t size = tail > head ? tail - head : 0;
    return static_cast<std::size_t>(size > mask_ + 1 ? mask_ + 1 : size);
  }

  [[nodiscard]] bool empty_guess() const noexcept { return size_guess() == 0; }

 private:
  struct Slot {
    std::atomic<std::uint64_t> seq{0};
    alignas(T) std::byte storage[sizeof(T)];
    T* item() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  static Slot* allocate(std::size_t min_capacity, std::size_t n) {
    if (min_capacity > (std::size_t{1} << 40)) {
      throw std::length_error("SpscRing capacity too large");
    }
    // Whole cache lines, so the last cells share no line with the next allocation.
    const std::size_t bytes = (n * sizeof(Slot) + kCacheLine - 1) / kCacheLine * kCacheLine;
    auto* slots = static_cast<Slot*>(::operator new (bytes, std::align_val_t{kCacheLine}));
    for (std::size_t i = 0; i < n; ++i) new (&slots[i]) Slot{};
    return slots;
  }

  // Re-reads head_ when the cached copy leaves fewer than `wanted` free cells; true if there
  // are now at least `wanted`.
  bool refresh_head(std::uint64_t tail, std::size_t wanted) noexcept {
    // Acquire: pairs with the consumer's release of head_; its moves out of the cells we are
    // about to reuse happen before our writes.
    cached_head_ = head_.load(std::memory_order_acquire);
    return capacity() - (tail - cached_head_) >= wanted;
  }

  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producer writes (relaxed)
  std::uint64_t cached_head_{0};                            // producer only
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumer writes, producer reads
  alignas(kCacheLine) const std::size_t mask_;              // read-only after construction
  Slot* const slots_;

  static_assert(sizeof(std::atomic<std::uint64_t>) == 8);
};

}  // namespace switchyard::detail
