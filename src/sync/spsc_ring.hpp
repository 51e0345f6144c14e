// src/sync/spsc_ring.hpp — bounded lock-free single-producer single-consumer ring.
//
// The hand-off between exactly one producing thread and exactly one consuming thread. No part of
// the library uses it yet: it is kept, uninstalled, as the measured design for a one-to-one lane
// (benchmarks' handoff_spsc family, docs/benchmarks.md), with its tests. Mechanism only, like Ring.
//
// Layout
//   blocks_ : a power-of-two number of blocks, each one cache line (or, for items larger than
//             56 bytes, one item) long: { seq, kPerBlock items }. Position p lives in block
//             (p / kPerBlock) mod blocks, item p mod kPerBlock; capacity() = blocks × kPerBlock.
//             seq holds p + 1 for the newest position p published in the block, so "item p is
//             here" reads seq > p (a block's seq from the previous lap is ≤ p − capacity +
//             kPerBlock).
//   producer line : tail_ (next position), cached_head_ (its last look at head_), and where
//             tail_ lives (block and item), all written by the producer only; tail_ is read
//             elsewhere only by size_guess() and the destructor.
//   consumer line : head_ (next position to read) and where it lives. head_ is read by the
//             producer only when its cached copy says the ring is full.
//   Positions are 64-bit and never wrap.
//
// Why this shape: when the consumer keeps up, every item crosses between the cores as soon as
// it is written. A ring that signals "item ready" through a tail index moves two cache lines per
// item (the index and the item); here the ready mark sits in the item's own line, so one line
// moves, and it carries several items when the consumer lags a little. Packing kPerBlock items
// under one mark (7 eight-byte items per line) keeps the ring as dense as a plain array, which
// is what counts when both threads share one core and the ring is copied through L1. The
// producer learns about free cells from head_, which it reads only when its cached copy runs out
// (rigtorp's SPSCQueue caches both indices, Vyukov's rings put the turn in the cell, FastForward
// keeps the flag with the data — we take an idea from each; the code is ours).
//
// Memory orders
//   The producer constructs item p, then release-stores seq = p + 1 in its block; the
//   consumer's acquire-load of a seq > p makes item p visible (a later release in the same
//   block carries it too: it is sequenced after item p's construction). The consumer moves the
//   item out and destroys it, then release-stores head_; the producer's acquire-load of head_
//   orders its next construction in that cell after the move. tail_ is published relaxed:
//   nobody synchronizes through it.
//
// Contract
//   * At most one thread uses the push side (try_emplace, try_push, try_push_n) at a time and
//     at most one thread uses the pop side (try_pop, try_pop_n) at a time; handing a side to
//     another thread must itself synchronize (a join, a mutex, a release/acquire pair).
//   * Every call is wait-free and noexcept; items come out in the order they went in.
//   * try_push reports "full" only when capacity() items are in the ring; try_pop reports
//     "empty" only when no completed push is waiting.
//   * capacity() is at least the requested capacity (rounded up to whole blocks, a power of two
//     of them).
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

  static constexpr std::size_t kSeqBytes = sizeof(std::uint64_t);

 public:
  /// Items sharing one ready mark (and, when > 1, one cache line).
  static constexpr std::size_t kPerBlock =
      sizeof(T) + kSeqBytes <= kCacheLine ? (kCacheLine - kSeqBytes) / sizeof(T) : 1;

  /// A ring holding at least `min_capacity` items (at least 2). Throws std::length_error above
  /// 2^40 items, std::bad_alloc if memory runs out.
  explicit SpscRing(std::size_t min_capacity)
      : block_mask_(std::bit_ceil(blocks_for(min_capacity)) - 1),
        capacity_((block_mask_ + 1) * kPerBlock),
        blocks_(allocate(block_mask_ + 1)),
        last_block_(blocks_ + block_mask_) {
    tail_block_ = blocks_;
    head_block_ = blocks_;
    static_assert(offsetof(SpscRing, head_) - offsetof(SpscRing, tail_) == kCacheLine,
                  "the producer's and the consumer's state must sit on separate cache lines");
    static_assert(offsetof(SpscRing, block_mask_) - offsetof(SpscRing, head_) == kCacheLine,
                  "the read-only fields must not share the consumer's cache line");
    static_assert(kPerBlock == 1 || sizeof(Block) == kCacheLine,
                  "a block of several items must fill exactly one cache line");
  }

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  ~SpscRing() {
    // Single-threaded by contract: destroy the items that were never popped.
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t pos = head_.load(std::memory_order_relaxed); pos != tail; ++pos) {
      blocks_[(pos / kPerBlock) & block_mask_].item(pos % kPerBlock)->~T();
    }
    for (std::size_t i = 0; i <= block_mask_; ++i) blocks_[i].~Block();
    ::operator delete (blocks_, std::align_val_t{kCacheLine});
  }

  /// Constructs an item at the tail. False if the ring is full. @note producer only, wait-free
  template <class... Args>
  bool try_emplace(Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible_v<T, Args&&...>,
                  "try_emplace runs on a noexcept path: T(Args...) must be noexcept");
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // we are its only writer
    if (tail - cached_head_ >= capacity() && !refresh_head(tail, 1)) return false;
    Block& block = *tail_block_;
    new (block.item(tail_item_)) T(std::forward<Args>(args)...);
    // Release: publishes the item to the consumer's acquire-load of seq.
    block.seq.store(tail + 1, std::memory_order_release);
    tail_.store(tail + 1, std::memory_order_relaxed);
    advance(tail_block_, tail_item_);
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
      Block& block = *tail_block_;
      new (block.item(tail_item_)) T(first[i]);
      // Release: as in try_emplace, one item at a time (the consumer may start early).
      block.seq.store(tail + i + 1, std::memory_order_release);
      advance(tail_block_, tail_item_);
    }
    tail_.store(tail + count, std::memory_order_relaxed);
    return count;
  }

  /// Moves the head item into `out`. False if empty. @note consumer only, wait-free
  bool try_pop(T& out) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);  // we are its only writer
    Block& block = *head_block_;
    // Acquire: pairs with the producer's release of seq (item `head` is visible).
    if (block.seq.load(std::memory_order_acquire) <= head) return false;
    T* item = block.item(head_item_);
    out = std::move(*item);
    item->~T();
    advance(head_block_, head_item_);
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
      Block& block = *head_block_;
      // Acquire: as in try_pop.
      if (block.seq.load(std::memory_order_acquire) <= head + count) break;
      T* item = block.item(head_item_);
      out[count] = std::move(*item);
      item->~T();
      advance(head_block_, head_item_);
    }
    // Release: hands all `count` cells back at once.
    if (count != 0) head_.store(head + count, std::memory_order_release);
    return count;
  }

  /// Number of items the ring holds when full. @note threadsafe
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// Items in the ring; a moment's view that either side may already have changed, never
  /// above capacity(). @note threadsafe
  [[nodiscard]] std::size_t size_guess() const noexcept {
    // Head first: tail only grows, so a tail read later is at least the tail of that moment.
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint64_t size = tail > head ? tail - head : 0;
    return static_cast<std::size_t>(size > capacity() ? capacity() : size);
  }

  [[nodiscard]] bool empty_guess() const noexcept { return size_guess() == 0; }

 private:
  struct alignas(kPerBlock > 1 || sizeof(T) + kSeqBytes <= kCacheLine
                     ? kCacheLine
                     : alignof(std::uint64_t)) Block {
    std::atomic<std::uint64_t> seq{0};
    alignas(T) std::byte storage[kPerBlock * sizeof(T)];
    T* item(std::size_t i) noexcept { return std::launder(reinterpret_cast<T*>(storage) + i); }
  };

  static std::size_t blocks_for(std::size_t min_capacity) {
    if (min_capacity > (std::size_t{1} << 40)) {
      throw std::length_error("SpscRing capacity too large");
    }
    const std::size_t items = min_capacity < 2 ? 2 : min_capacity;
    const std::size_t blocks = (items + kPerBlock - 1) / kPerBlock;
    return blocks < 2 ? 2 : blocks;
  }

  static Block* allocate(std::size_t n) {
    // Whole cache lines, so the last block shares no line with the next allocation.
    const std::size_t bytes = (n * sizeof(Block) + kCacheLine - 1) / kCacheLine * kCacheLine;
    auto* blocks = static_cast<Block*>(::operator new (bytes, std::align_val_t{kCacheLine}));
    for (std::size_t i = 0; i < n; ++i) new (&blocks[i]) Block{};
    return blocks;
  }

  // Steps a (block, item) cursor to the next position.
  void advance(Block*& block, std::size_t& item) const noexcept {
    if (++item == kPerBlock) {
      item = 0;
      block = block == last_block_ ? blocks_ : block + 1;
    }
  }

  // Re-reads head_; true if at least `wanted` cells are free now.
  bool refresh_head(std::uint64_t tail, std::size_t wanted) noexcept {
    // Acquire: pairs with the consumer's release of head_; its moves out of the cells we are
    // about to reuse happen before our writes.
    cached_head_ = head_.load(std::memory_order_acquire);
    return capacity() - (tail - cached_head_) >= wanted;
  }

  // Producer's line.
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // written relaxed by the producer
  std::uint64_t cached_head_{0};
  Block* tail_block_{nullptr};  // the block and item tail_ lives in
  std::size_t tail_item_{0};
  // Consumer's line.
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};  // consumer writes, producer reads
  Block* head_block_{nullptr};                              // the block and item head_ lives in
  std::size_t head_item_{0};
  // Read-only after construction.
  alignas(kCacheLine) const std::size_t block_mask_;
  const std::size_t capacity_;
  Block* const blocks_;
  Block* const last_block_;

  static_assert(sizeof(std::atomic<std::uint64_t>) == 8);
};

}  // namespace switchyard::detail
