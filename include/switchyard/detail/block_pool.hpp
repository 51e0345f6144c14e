// switchyard/detail/block_pool.hpp — recycled memory blocks for message bodies.
//
// A message body is allocated by a producer thread and freed by whichever thread drops the
// last reference (usually a consumer). A thread-local cache would drain on one side and fill on
// the other, so freed blocks go through a shared pool per size class instead: a bounded
// lock-free ring of free blocks (the same Ring as the queues). Allocation pops, freeing pushes;
// an empty pool falls back to operator new, a full one to operator delete. In the steady state
// a message costs no heap allocation.
//
// Memory stays bounded: each class keeps at most kPooledPerClass free blocks.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include "switchyard/detail/ring.hpp"

namespace switchyard::detail {

class BlockPool {
 public:
  /// Size classes: every 16 bytes up to 256, then every 64 up to 1 KiB, then every 256 up to
  /// 4 KiB; larger blocks go straight to operator new/delete.
  static constexpr std::size_t kClasses = 16 + 12 + 12;
  static constexpr std::size_t kMaxPooled = 4096;
  /// Free blocks kept per class (the rest go back to the allocator).
  static constexpr std::size_t kPooledPerClass = 4096;

  /// The process-wide pool. Never destroyed: a message freed during static destruction still
  /// finds it (its blocks stay reachable, so leak checkers stay quiet).
  static BlockPool& instance() noexcept {
    static BlockPool* const pool = new BlockPool;
    return *pool;
  }

  /// A block of at least `size` bytes, aligned for any scalar type. Throws std::bad_alloc.
  /// @note threadsafe, lock-free when the pool has a block
  void* allocate(std::size_t size) {
    if (size > kMaxPooled) return ::operator new(size);
    const std::size_t c = class_of(size);
    void* block = nullptr;
    if (free_[c]->try_pop(block)) return block;
    return ::operator new(class_size(c));
  }

  /// Returns a block from `allocate(size)` (same `size`). @note threadsafe
  void deallocate(void* block, std::size_t size) noexcept {
    if (size <= kMaxPooled && free_[class_of(size)]->try_push(static_cast<void*>(block))) return;
    ::operator delete(block);
  }

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  static constexpr std::size_t class_of(std::size_t size) noexcept {
    if (size <= 256) return size <= 16 ? 0 : (size - 1) / 16;  // 0..15: 16..256
    if (size <= 1024) return 16 + (size - 257) / 64;           // 16..27: 320..1024
    return 28 + (size - 1025) / 256;                           // 28..39: 1280..4096
  }
  static constexpr std::size_t class_size(std::size_t c) noexcept {
    if (c < 16) return (c + 1) * 16;
    if (c < 28) return 256 + (c - 15) * 64;
    return 1024 + (c - 27) * 256;
  }

 private:
  BlockPool() {
    free_.reserve(kClasses);
    for (std::size_t c = 0; c < kClasses; ++c) {
      free_.push_back(std::make_unique<Ring<void*>>(kPooledPerClass));
    }
  }

  std::vector<std::unique_ptr<Ring<void*>>> free_;  // one ring of free blocks per class
};

static_assert(BlockPool::class_of(16) == 0 &&
                  BlockPool::class_size(BlockPool::class_of(112)) == 112 &&
                  BlockPool::class_size(BlockPool::class_of(257)) == 320 &&
                  BlockPool::class_size(BlockPool::class_of(1024)) == 1024 &&
                  BlockPool::class_size(BlockPool::class_of(1025)) == 1280 &&
                  BlockPool::class_of(4096) == BlockPool::kClasses - 1 &&
                  BlockPool::class_size(BlockPool::kClasses - 1) == 4096,
              "size classes cover 1..4096 and each class holds its sizes");

}  // namespace switchyard::detail
