// switchyard/detail/block_pool.hpp — recycled memory blocks for message bodies.
//
// A message body is allocated by a producer thread and freed by whichever thread drops the
// last reference (usually a consumer on another core). The pool is a magazine cache (Bonwick
// and Adams, "Magazines and Vmem", USENIX 2001), so that the common case touches only memory
// private to the calling thread:
//
//   thread cache   per thread and size class, two magazines (`loaded`, `previous`): bounded
//                  stacks of free blocks. allocate() pops from `loaded`, deallocate() pushes
//                  onto it; no atomic operation, no shared cache line.
//   depot          per size class, shared: a bounded Ring of non-empty magazines and a bounded
//                  Ring of empty ones (the same lock-free MPMC ring as the queues).
//
// When `loaded` runs out (allocate: empty, deallocate: full) the thread first swaps it with
// `previous`; only when that does not help does it go to the depot: a producer trades an empty
// magazine for a full one, a consumer a full one for an empty one — one ring operation each
// way per magazine of blocks, not per block. A producer that finds no full magazine takes a
// block from operator new; a consumer that finds the depot at its bound gives a magazine's
// blocks back to operator delete. Once producers and consumers are in step, a message costs no
// heap allocation: empty magazines travel back from producers to consumers through the depot.
//
// Size classes are the usable sizes of glibc malloc chunks (16k + 8 bytes), so a pooled block
// wastes no malloc padding: a 104-byte body costs one 112-byte chunk, not 128.
//
// Memory stays bounded:
//   * the depot of a class keeps at most kDepotMagazines non-empty magazines (and as many empty
//     ones); a magazine holds magazine_capacity(c) blocks, at most about kMagazineBytes (8 KiB)
//     of them, or 4 blocks of the largest classes (16 KiB): about 512 KiB per class in the depot
//     up to 2 KiB blocks, about 1 MiB above, 20 MiB for all 40 classes together;
//   * a thread keeps at most two magazines per class it has used (≤ 650 KiB if it used all),
//     also while idle;
//   * a thread gives its magazines to the depot when it exits (a thread_local destructor), or
//     when it calls trim(); trim() also returns the depot's blocks to the allocator.
// Blocks larger than kMaxPooled bypass the pool (operator new/delete).
//
// Contract
//   * allocate/deallocate: any thread; a block may be freed on any thread, not only the one
//     that allocated it. The fast path takes no lock and no atomic operation; the depot is
//     lock-free; a miss on both may call operator new/delete.
//   * A thread that has already run its thread-exit cleanup (a thread_local destructor that
//     frees a message after ours ran) bypasses its cache and uses operator new/delete.
//   * The pool is process-wide and never destroyed (see instance()).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "switchyard/detail/cache_line.hpp"
#include "switchyard/detail/ring.hpp"
#include "switchyard/export.hpp"

namespace switchyard::detail {

class SWITCHYARD_EXPORT BlockPool {
 public:
  /// Size classes (usable size of a glibc chunk, 16k + 8): every 16 bytes from 24 to 264, then
  /// every 64 up to 1032, then every 256 up to 4104; larger blocks go straight to operator new.
  static constexpr std::size_t kClasses = 16 + 12 + 12;
  static constexpr std::size_t kMaxPooled = 4104;
  /// Most blocks one magazine can hold.
  static constexpr std::size_t kMagazineSlots = 64;
  /// A magazine holds about this many bytes of blocks (at least 4 blocks, at most 64).
  static constexpr std::size_t kMagazineBytes = 8 * 1024;
  /// Non-empty (and, separately, empty) magazines the depot keeps per class.
  static constexpr std::size_t kDepotMagazines = 64;

  /// A bounded stack of free blocks of one class. Owned by one thread at a time: a thread
  /// cache, or the depot between a push and a pop.
  struct Magazine {
    std::uint32_t count;
    std::uint32_t capacity;
    void* blocks[kMagazineSlots];
  };

  /// The process-wide pool. Never destroyed: a message freed during static destruction still
  /// finds it (its blocks stay reachable, so leak checkers stay quiet).
  static BlockPool& instance() noexcept {
    static BlockPool* const pool = new BlockPool;
    return *pool;
  }

  /// A block of at least `size` bytes, aligned for any scalar type. Throws std::bad_alloc.
  /// @note threadsafe, lock-free; the fast path touches only the calling thread's cache
  void* allocate(std::size_t size) {
    if (size > kMaxPooled) return ::operator new(size);
    const std::size_t c = class_of(size);
    Magazine* loaded = cache_.loaded[c];
    if (loaded != nullptr && loaded->count != 0) [[likely]] {
      return loaded->blocks[--loaded->count];
    }
    return allocate_slow(c);
  }

  /// Returns a block from `allocate(size)` (same `size`), from any thread. @note threadsafe
  void deallocate(void* block, std::size_t size) noexcept {
    if (size > kMaxPooled) {
      ::operator delete(block);
      return;
    }
    const std::size_t c = class_of(size);
    Magazine* loaded = cache_.loaded[c];
    if (loaded != nullptr && loaded->count != loaded->capacity) [[likely]] {
      loaded->blocks[loaded->count++] = block;
      return;
    }
    deallocate_slow(block, c);
  }

  /// Gives the calling thread's magazines to the depot, then every block the depot holds back
  /// to the allocator (and frees its magazines). Blocks cached by other live threads stay.
  /// @note threadsafe
  void trim() noexcept;

  /// Blocks of class `size_class` taken from operator new and not given back: in use or cached.
  /// @note threadsafe; exact only while no thread allocates or frees that class
  [[nodiscard]] std::int64_t blocks_held(std::size_t size_class) const noexcept;

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  static constexpr std::size_t class_of(std::size_t size) noexcept {
    if (size <= 264) return size <= 24 ? 0 : (size - 9) / 16;  // 0..15: 24..264
    if (size <= 1032) return 16 + (size - 265) / 64;           // 16..27: 328..1032
    return 28 + (size - 1033) / 256;                           // 28..39: 1288..4104
  }
  static constexpr std::size_t class_size(std::size_t c) noexcept {
    if (c < 16) return (c + 1) * 16 + 8;
    if (c < 28) return 264 + (c - 15) * 64;
    return 1032 + (c - 27) * 256;
  }
  static constexpr std::uint32_t magazine_capacity(std::size_t c) noexcept {
    return static_cast<std::uint32_t>(
        std::clamp<std::size_t>(kMagazineBytes / class_size(c), 4, kMagazineSlots));
  }

 private:
  /// A thread's magazines. Trivially destructible and constant-initialised, so the fast path
  /// reads it with no guard; `state` moves fresh → live (cleanup registered) → dead (ran).
  struct ThreadCache {
    Magazine* loaded[kClasses];
    Magazine* previous[kClasses];
    std::uint8_t state;
  };
  static constexpr std::uint8_t kFresh = 0;
  static constexpr std::uint8_t kLive = 1;
  static constexpr std::uint8_t kDead = 2;

  /// The shared part of one class.
  struct Depot {
    Depot() : full(kDepotMagazines), empty(kDepotMagazines) {}
    Ring<Magazine*> full;   // magazines holding at least one block
    Ring<Magazine*> empty;  // magazines holding none
    // Relaxed: a statistic; the blocks themselves are handed over through the rings.
    alignas(kCacheLine) std::atomic<std::int64_t> held{0};
  };

  friend struct BlockPoolThreadExit;

  BlockPool() = default;

  void* allocate_slow(std::size_t c);
  void deallocate_slow(void* block, std::size_t c) noexcept;
  /// Registers the thread-exit cleanup; false if the thread has already run it.
  static bool adopt_thread();
  /// Gives every magazine of the calling thread to the depot.
  void flush_thread() noexcept;
  void* new_block(std::size_t c);
  void delete_block(void* block, std::size_t c) noexcept;
  Magazine* take_empty(std::size_t c) noexcept;
  void give_empty(Magazine* magazine, std::size_t c) noexcept;
  void give_loaded(Magazine* magazine, std::size_t c) noexcept;

  static inline constinit thread_local ThreadCache cache_{};

  Depot depots_[kClasses];
};

static_assert(BlockPool::class_of(1) == 0 && BlockPool::class_size(0) == 24 &&
                  BlockPool::class_size(BlockPool::class_of(104)) == 104 &&
                  BlockPool::class_size(BlockPool::class_of(105)) == 120 &&
                  BlockPool::class_size(BlockPool::class_of(264)) == 264 &&
                  BlockPool::class_size(BlockPool::class_of(265)) == 328 &&
                  BlockPool::class_size(BlockPool::class_of(1032)) == 1032 &&
                  BlockPool::class_size(BlockPool::class_of(1033)) == 1288 &&
                  BlockPool::class_of(BlockPool::kMaxPooled) == BlockPool::kClasses - 1 &&
                  BlockPool::class_size(BlockPool::kClasses - 1) == BlockPool::kMaxPooled,
              "size classes cover 1..kMaxPooled and each class holds its sizes");
static_assert(BlockPool::class_size(0) % 16 == 8 && BlockPool::class_size(16) % 16 == 8 &&
                  BlockPool::class_size(28) % 16 == 8,
              "class sizes are glibc chunk usable sizes (16k + 8): no malloc padding");
static_assert(BlockPool::magazine_capacity(0) == BlockPool::kMagazineSlots &&
                  BlockPool::magazine_capacity(BlockPool::kClasses - 1) == 4,
              "magazines hold between 4 and kMagazineSlots blocks");

}  // namespace switchyard::detail
