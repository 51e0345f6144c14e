// The block pool's slow paths: a thread cache that ran out, the depot, thread exit, trim().
// The design and the bounds are described in switchyard/detail/block_pool.hpp.
#include "switchyard/detail/block_pool.hpp"

#include <utility>

namespace switchyard::detail {

/// Lives in thread-local storage of every thread that used the pool; its destructor gives the
/// thread's magazines to the depot when the thread exits.
struct BlockPoolThreadExit {
  BlockPoolThreadExit() = default;
  BlockPoolThreadExit(const BlockPoolThreadExit&) = delete;
  BlockPoolThreadExit& operator=(const BlockPoolThreadExit&) = delete;
  ~BlockPoolThreadExit() {
    BlockPool::instance().flush_thread();
    // From here on the thread bypasses its cache (a later thread_local destructor may still
    // free a message).
    BlockPool::cache_.state = BlockPool::kDead;
  }
};

bool BlockPool::adopt_thread() {
  if (cache_.state == kDead) return false;
  if (cache_.state == kFresh) {
    // Constructed the first time control passes here on this thread; destroyed at its exit.
    thread_local BlockPoolThreadExit exit_hook;
    static_cast<void>(exit_hook);
    cache_.state = kLive;
  }
  return true;
}

void* BlockPool::new_block(std::size_t c) {
  void* block = ::operator new(class_size(c));
  depots_[c].held.fetch_add(1, std::memory_order_relaxed);
  return block;
}

void BlockPool::delete_block(void* block, std::size_t c) noexcept {
  depots_[c].held.fetch_sub(1, std::memory_order_relaxed);
  ::operator delete(block);
}

BlockPool::Magazine* BlockPool::take_empty(std::size_t c) noexcept {
  Magazine* magazine = nullptr;
  if (depots_[c].empty.try_pop(magazine)) return magazine;
  magazine = new (std::nothrow) Magazine;  // default-initialised: the slots stay unwritten
  if (magazine != nullptr) {
    magazine->count = 0;
    magazine->capacity = magazine_capacity(c);
  }
  return magazine;
}

void BlockPool::give_empty(Magazine* magazine, std::size_t c) noexcept {
  if (!depots_[c].empty.try_push(std::move(magazine))) delete magazine;
}

void BlockPool::give_loaded(Magazine* magazine, std::size_t c) noexcept {
  if (magazine->count == 0 || !depots_[c].full.try_push(std::move(magazine))) {
    // Empty, or the depot is at its bound: the blocks go back to the allocator.
    while (magazine->count != 0) delete_block(magazine->blocks[--magazine->count], c);
    give_empty(magazine, c);
  }
}

void* BlockPool::allocate_slow(std::size_t c) {
  if (!adopt_thread()) return new_block(c);
  Magazine*& loaded = cache_.loaded[c];
  Magazine*& previous = cache_.previous[c];
  // `loaded` is null or empty. 1. The previous magazine still has blocks: swap.
  if (previous != nullptr && previous->count != 0) {
    std::swap(loaded, previous);
    return loaded->blocks[--loaded->count];
  }
  // 2. Trade an empty magazine for a full one from the depot.
  Magazine* full = nullptr;
  if (depots_[c].full.try_pop(full)) {
    if (previous != nullptr) give_empty(previous, c);
    previous = loaded;
    loaded = full;
    return loaded->blocks[--loaded->count];  // the depot holds only non-empty magazines
  }
  // 3. The depot has none: a fresh block.
  return new_block(c);
}

void BlockPool::deallocate_slow(void* block, std::size_t c) noexcept {
  if (!adopt_thread()) {
    delete_block(block, c);
    return;
  }
  Magazine*& loaded = cache_.loaded[c];
  Magazine*& previous = cache_.previous[c];
  // `loaded` is null or full. 1. The previous magazine has room: swap.
  if (previous != nullptr && previous->count != previous->capacity) {
    std::swap(loaded, previous);
    loaded->blocks[loaded->count++] = block;
    return;
  }
  // 2. Both full: the older one goes to the depot (or, at its bound, to the allocator).
  if (loaded != nullptr) {
    if (previous != nullptr) give_loaded(previous, c);
    previous = loaded;
  }
  // 3. Start an empty magazine.
  loaded = take_empty(c);
  if (loaded == nullptr) {
    delete_block(block, c);  // no memory even for a magazine
    return;
  }
  loaded->blocks[loaded->count++] = block;
}

void BlockPool::flush_thread() noexcept {
  if (cache_.state != kLive) return;
  for (std::size_t c = 0; c < kClasses; ++c) {
    for (Magazine** slot : {&cache_.loaded[c], &cache_.previous[c]}) {
      if (*slot != nullptr) give_loaded(std::exchange(*slot, nullptr), c);
    }
  }
}

void BlockPool::trim() noexcept {
  flush_thread();
  for (std::size_t c = 0; c < kClasses; ++c) {
    Magazine* magazine = nullptr;
    while (depots_[c].full.try_pop(magazine)) {
      while (magazine->count != 0) delete_block(magazine->blocks[--magazine->count], c);
      delete magazine;
    }
    while (depots_[c].empty.try_pop(magazine)) delete magazine;
  }
}

std::int64_t BlockPool::blocks_held(std::size_t size_class) const noexcept {
  return depots_[size_class].held.load(std::memory_order_relaxed);
}

}  // namespace switchyard::detail
