// switchyard/detail/spsc_ring.hpp — bounded lock-free single-producer single-consumer ring.
//
// The hand-off between exactly one producing thread and exactly one consuming thread (a
// partition's writer and its reader, a worker's private inbox). Mechanism only, like Ring.
//
// Layout (each field on its own cache line)
//   tail_        : next position to write; written by the producer, read by the consumer.
//   cached_head_ : the producer's last look at head_ (plain, producer only).
//   head_        : next position to read; written by the consumer, read by the producer.
//   cached_tail_ : the consumer's last look at tail_ (plain, consumer only).
//   mask_, slots_: read-only after construction, shared by both.
//   Positions are 64-bit and never wrap; position p lives in slots_[p & mask_].
//   The ring holds tail_ - head_ items, 0 ≤ that ≤ capacity().
//
// Why the cached indices: a side that only looks at the other side's index when its own copy
// says "full" (producer) or "empty" (consumer) keeps that index's cache line out of the
// ping-pong in the steady state; only the slot lines travel. (The idea is from rigtorp's
// SPSCQueue and Vyukov's notes; the code is ours.)
//
// Memory orders
//   The producer constructs the item(s), then release-stores tail_; the consumer's acquire-load
//   of tail_ makes them visible. The consumer moves the item(s) out and destroys them, then
//   release-stores head_; the producer's acquire-load of head_ orders its next write into
//   those slots after the move. Each side reads its own index relaxed (it is the only writer).
//
// Contract
//   * At most one thread calls the push side (try_push, try_emplace, try_push_n) at a time and
//     at most one thread calls the pop side (try_pop, try_pop_n, front) at a time; a hand-over of
//     a side between threads must itself synchronize (a join, a mutex, a release/acquire pair).
//   * Every call is wait-free, noexcept and FIFO.
//   * size_guess() is exact from the producer or the consumer thread only up to the other side's
//     concurrent progress; it is never above capacity().
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
    static_assert(offsetof(SpscRing, cached_head_) - offsetof(SpscRing, tail_) == kCacheLine &&
                      offsetof(SpscRing, head_) - offsetof(SpscRing, cached_head_) == kCacheLine &&
                      offsetof(SpscRing, cached_tail_) - offsetof(SpscRing, head_) == kCacheLine,
                  "each index and each cached index must sit on its own cache line");
  }

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  ~SpscRing() {
    // Single-threaded by contract: destroy the items that were never popped.
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t pos = head_.load(std::memory_order_relaxed); pos != tail; ++pos) {
      slot(pos)->~T();
    }
    ::operator delete (slots_, std::align_val_t{kCacheLine});
  }

  /// Constructs an item at the tail. False if the ring is full. @note producer only, wait-free
  template <class... Args>
  bool try_emplace(Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible_v<T, Args&&...>,
                  "try_emplace runs on a noexcept path: T(Args...) must be noexcept");
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // we are its only writer
    if (tail - cached_head_ > mask_) {
      // Acquire: pairs with the consumer's release of head_; its moves out of the slots we are
      // about to reuse happen before our writes.
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail - cached_head_ > mask_) return false;
    }
    new (slot(tail)) T(std::forward<Args>(args)...);
    // Release: publishes the item to the consumer's acquire-load of tail_.
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  /// Moves `item` in at the tail. False (and `item` untouched) if full. @note producer only
  bool try_push(T&& item) noexcept { return try_emplace(std::move(item)); }
  /// Copies `item` in at the tail. False if full. @note producer only
  bool try_push(const T& item) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    return try_emplace(item);
  }

  /// Copies up to `n` items from `first` in FIFO order with one publication; returns how many
  /// fit (0 if full). @note producer only, wait-free
  std::size_t try_push_n(const T* first,
                         std::size_t n) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    std::uint64_t room = capacity() - (tail - cached_head_);
    if (room < n) {
      // Acquire: as in try_emplace.
      cached_head_ = head_.load(std::memory_order_acquire);
      room = capacity() - (tail - cached_head_);
    }
    const std::size_t count = std::min<std::uint64_t>(room, n);
    for (std::size_t i = 0; i < count; ++i) new (slot(tail + i)) T(first[i]);
    // Release: publishes all `count` items at once.
    if (count != 0) tail_.store(tail + count, std::memory_order_release);
    return count;
  }

  /// Moves the head item into `out`. False if empty. @note consumer only, wait-free
  bool try_pop(T& out) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);  // we are its only writer
    if (head == cached_tail_) {
      // Acquire: pairs with the producer's release of tail_ (the items are visible).
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head == cached_tail_) return false;
    }
    T* item = slot(head);
    out = std::move(*item);
    item->~T();
    // Release: hands the slot back to the producer's acquire-load of head_.
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  /// Moves up to `n` head items into `out[0..)` with one release; returns how many (0 if empty).
  /// @note consumer only, wait-free
  std::size_t try_pop_n(T* out, std::size_t n) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    std::uint64_t ready = cached_tail_ - head;
    if (ready < n) {
      // Acquire: as in try_pop.
      cached_tail_ = tail_.load(std::memory_order_acquire);
      ready = cached_tail_ - head;
    }
    const std::size_t count = std::min<std::uint64_t>(ready, n);
    for (std::size_t i = 0; i < count; ++i) {
      T* item = slot(head + i);
      out[i] = std::move(*item);
      item->~T();
    }
    // Release: hands all `count` slots back at once.
    if (count != 0) head_.store(head + count, std::memory_order_release);
    return count;
  }

  /// Number of slots. @note threadsafe
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Items in the ring; a moment's view that either side may already have changed.
  /// @note threadsafe
  [[nodiscard]] std::size_t size_guess() const noexcept {
    // Head first: tail only grows, so tail read later is ≥ the tail at the head's moment.
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    const std::uint64_t size = tail - head;
    return static_cast<std::size_t>(size > mask_ + 1 ? mask_ + 1 : size);
  }

  [[nodiscard]] bool empty_guess() const noexcept { return size_guess() == 0; }

 private:
  struct Storage {
    alignas(T) std::byte bytes[sizeof(T)];
  };

  static Storage* allocate(std::size_t min_capacity, std::size_t n) {
    if (min_capacity > (std::size_t{1} << 40)) {
      throw std::length_error("SpscRing capacity too large");
    }
    // Rounded up to whole cache lines so the last slots share no line with the next allocation.
    const std::size_t bytes = (n * sizeof(Storage) + kCacheLine - 1) / kCacheLine * kCacheLine;
    return static_cast<Storage*>(::operator new (bytes, std::align_val_t{kCacheLine}));
  }

  T* slot(std::uint64_t pos) const noexcept {
    return std::launder(reinterpret_cast<T*>(&slots_[pos & mask_]));
  }

  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producer writes, consumer reads
  alignas(kCacheLine) std::uint64_t cached_head_{0};        // producer only
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumer writes, producer reads
  alignas(kCacheLine) std::uint64_t cached_tail_{0};        // consumer only
  alignas(kCacheLine) const std::size_t mask_;              // read-only after construction
  Storage* const slots_;

  static_assert(sizeof(std::atomic<std::uint64_t>) == 8);
};

}  // namespace switchyard::detail
