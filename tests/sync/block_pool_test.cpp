#include <switchyard/detail/block_pool.hpp>
#include <switchyard/detail/ring.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <set>
#include <thread>
#include <vector>

using switchyard::detail::BlockPool;
using switchyard::detail::Ring;

#include "support/heap_counter.hpp"

using switchyard::test::heap_allocations;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr std::uint64_t kScale = 10;
#else
constexpr std::uint64_t kScale = 1;
#endif

BlockPool& pool() {
  return BlockPool::instance();
}

/// Blocks of class `c` still in use once the calling thread's cache and the depot went back
/// to the allocator.
std::int64_t in_use(std::size_t c) {
  pool().trim();
  return pool().blocks_held(c);
}

/// Most blocks of class `c` the pool can hold with `threads` threads using it and
/// `in_flight` blocks allocated and not yet freed.
std::int64_t held_bound(std::size_t c, std::size_t threads, std::size_t in_flight) {
  const std::size_t magazine = BlockPool::magazine_capacity(c);
  return static_cast<std::int64_t>(in_flight + threads * 2 * magazine +
                                   BlockPool::kDepotMagazines * magazine);
}

/// What a producer writes into both ends of a block, so a consumer can tell it is whole.
struct Stamp {
  std::uint64_t producer;
  std::uint64_t seq;
  std::uint64_t size;
};

struct Sent {
  void* block = nullptr;
  std::size_t size = 0;
};

void stamp(void* block, std::size_t size, std::uint64_t producer, std::uint64_t seq) {
  const Stamp s{producer, seq, size};
  auto* bytes = static_cast<unsigned char*>(block);
  std::memcpy(bytes, &s, sizeof s);
  std::memcpy(bytes + size - sizeof s, &s, sizeof s);
}

bool read_stamp(const void* block, std::size_t size, Stamp& out) {
  const auto* bytes = static_cast<const unsigned char*>(block);
  Stamp tail{};
  std::memcpy(&out, bytes, sizeof out);
  std::memcpy(&tail, bytes + size - sizeof tail, sizeof tail);
  return std::memcmp(&out, &tail, sizeof out) == 0 && out.size == size;
}

}  // namespace

TEST_CASE("every size from 1 to kMaxPooled falls in the smallest class that holds it") {
  for (std::size_t size = 1; size <= BlockPool::kMaxPooled; ++size) {
    const std::size_t c = BlockPool::class_of(size);
    REQUIRE(c < BlockPool::kClasses);
    REQUIRE(BlockPool::class_size(c) >= size);
    if (c > 0) REQUIRE(BlockPool::class_size(c - 1) < size);
  }
}

TEST_CASE("blocks of every class round-trip through the pool and go back to the allocator") {
  for (std::size_t c = 0; c < BlockPool::kClasses; ++c) {
    const std::int64_t before = in_use(c);
    const std::size_t smallest = c == 0 ? 1 : BlockPool::class_size(c - 1) + 1;
    for (const std::size_t size : {smallest, BlockPool::class_size(c)}) {
      void* first = pool().allocate(size);
      std::memset(first, 0xab, BlockPool::class_size(c));  // the whole class size is usable
      pool().deallocate(first, size);
      void* again = pool().allocate(size);
      CHECK(again == first);  // the thread's own cache hands it straight back
      pool().deallocate(again, size);
    }
    CHECK(pool().blocks_held(c) == before + 1);  // cached, not lost
    CHECK(in_use(c) == before);
  }
  void* big = pool().allocate(BlockPool::kMaxPooled + 1);  // bypasses the pool
  std::memset(big, 0, BlockPool::kMaxPooled + 1);
  pool().deallocate(big, BlockPool::kMaxPooled + 1);
}

TEST_CASE("a block is handed out only once until it is freed") {
  constexpr std::size_t kSize = 104;
  constexpr std::size_t kBlocks = 1000;
  std::set<void*> seen;
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < kBlocks; ++i) blocks.push_back(pool().allocate(kSize));
    const std::set<void*> distinct(blocks.begin(), blocks.end());
    CHECK(distinct.size() == kBlocks);
    seen.insert(blocks.begin(), blocks.end());
    for (void* b : blocks) pool().deallocate(b, kSize);
  }
  CHECK(seen.size() == kBlocks);  // rounds 2 and 3 reused round 1's blocks
}

TEST_CASE("freeing many more blocks than anyone reuses keeps at most the depot's bound") {
  constexpr std::size_t kSize = 200;
  const std::size_t c = BlockPool::class_of(kSize);
  const std::int64_t before = in_use(c);
  std::vector<void*> blocks(20'000 / kScale);
  for (void*& b : blocks) b = pool().allocate(kSize);
  CHECK(pool().blocks_held(c) >= before + static_cast<std::int64_t>(blocks.size()));
  for (void* b : blocks) pool().deallocate(b, kSize);
  CHECK(pool().blocks_held(c) <= before + held_bound(c, 1, 0));
  CHECK(in_use(c) == before);
}

TEST_CASE("a thread's cached blocks go back to the depot when the thread exits") {
  constexpr std::size_t kSize = 500;
  const std::size_t c = BlockPool::class_of(kSize);
  const std::int64_t before = in_use(c);
  std::thread([&] {
    std::vector<void*> blocks(10);
    for (void*& b : blocks) b = pool().allocate(kSize);
    for (void* b : blocks) pool().deallocate(b, kSize);  // fewer than a magazine: all cached
  }).join();
  CHECK(pool().blocks_held(c) == before + 10);
  CHECK(in_use(c) == before);  // trim reached them: they were in the depot, not lost
}

TEST_CASE("a block freed after the thread's pool cleanup ran goes straight to the allocator") {
  constexpr std::size_t kSize = 700;
  const std::size_t c = BlockPool::class_of(kSize);
  const std::int64_t before = in_use(c);
  struct Holder {
    void* block = nullptr;
    Holder() = default;
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    // Runs after the pool's thread-exit cleanup: constructed before the thread's first use
    // of the pool, so destroyed after it.
    ~Holder() {
      if (block != nullptr) BlockPool::instance().deallocate(block, kSize);
    }
  };
  std::thread([] {
    thread_local Holder holder;
    holder.block = pool().allocate(kSize);
  }).join();
  CHECK(pool().blocks_held(c) == before);
}

TEST_CASE("blocks allocated on some threads and freed on others are neither lost nor duplicated") {
  constexpr int kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr std::size_t kSizes[] = {24, 104, 104, 104, 170, 1000, 4104};
  const std::uint64_t per_producer = 200'000 / kScale;
  std::vector<std::int64_t> before;
  for (std::size_t c = 0; c < BlockPool::kClasses; ++c) before.push_back(in_use(c));

  Ring<Sent> ring(256);
  std::atomic<int> producers_left{kProducers};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> damaged{0};
  std::atomic<std::int64_t> worst_excess{0};  // most blocks held above the bound, if any
  std::vector<std::atomic<std::uint64_t>> seq_sum(kProducers);

  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        const std::size_t size = kSizes[(i + static_cast<std::uint64_t>(p)) % std::size(kSizes)];
        void* block = pool().allocate(size);
        stamp(block, size, static_cast<std::uint64_t>(p), i);
        Sent sent{block, size};
        while (!ring.try_push(std::move(sent))) std::this_thread::yield();
      }
      producers_left.fetch_sub(1, std::memory_order_release);
    });
  }
  for (int k = 0; k < kConsumers; ++k) {
    threads.emplace_back([&] {
      Sent sent;
      for (std::uint64_t n = 0;; ++n) {
        if (!ring.try_pop(sent)) {
          if (producers_left.load(std::memory_order_acquire) == 0 && ring.empty_guess()) break;
          std::this_thread::yield();
          continue;
        }
        Stamp s{};
        if (!read_stamp(sent.block, sent.size, s) || s.producer >= kProducers) {
          damaged.fetch_add(1, std::memory_order_relaxed);
        } else {
          seq_sum[s.producer].fetch_add(s.seq, std::memory_order_relaxed);
        }
        pool().deallocate(sent.block, sent.size);
        received.fetch_add(1, std::memory_order_relaxed);
        if (n % 1024 == 0) {
          for (const std::size_t size : kSizes) {
            const std::size_t c = BlockPool::class_of(size);
            const std::int64_t excess = pool().blocks_held(c) - before[c] -
                                        held_bound(c, kProducers + kConsumers + 1,
                                                   ring.capacity() + kProducers + kConsumers);
            std::int64_t worst = worst_excess.load(std::memory_order_relaxed);
            while (excess > worst && !worst_excess.compare_exchange_weak(worst, excess)) {
            }
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  CHECK(received == per_producer * kProducers);
  CHECK(damaged == 0);
  for (int p = 0; p < kProducers; ++p) {
    CHECK(seq_sum[static_cast<std::size_t>(p)] == per_producer * (per_producer - 1) / 2);
  }
  CHECK(worst_excess <= 0);
  for (const std::size_t size : kSizes) {
    const std::size_t c = BlockPool::class_of(size);
    CHECK(in_use(c) == before[c]);  // every thread's magazines came back; nothing leaked
  }
}

#ifndef SWITCHYARD_SANITIZER_BUILD
TEST_CASE("a producer and a consumer in step allocate nothing from the heap per block") {
  constexpr std::size_t kSize = 104;
  constexpr std::uint64_t kWarmUp = 20'000;
  constexpr std::uint64_t kBlocks = 400'000;
  Ring<void*> ring(1024);
  std::uint64_t allocations_at_warm = 0;
  std::uint64_t allocations_at_end = 0;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kBlocks; ++i) {
      void* block = pool().allocate(kSize);
      while (!ring.try_push(std::move(block))) std::this_thread::yield();
    }
  });
  std::thread consumer([&] {
    void* block = nullptr;
    for (std::uint64_t i = 0; i < kBlocks; ++i) {
      while (!ring.try_pop(block)) std::this_thread::yield();
      pool().deallocate(block, kSize);
      if (i == kWarmUp) allocations_at_warm = heap_allocations.load(std::memory_order_relaxed);
    }
    allocations_at_end = heap_allocations.load(std::memory_order_relaxed);
  });
  producer.join();
  consumer.join();
  // New blocks are taken only while the pool grows to the working set (ring + caches), so
  // the count is bounded whatever the number of blocks.
  const std::uint64_t steady = allocations_at_end - allocations_at_warm;
  INFO("heap allocations after warm-up: " << steady << " for " << kBlocks - kWarmUp << " blocks");
  CHECK(steady <= static_cast<std::uint64_t>(held_bound(BlockPool::class_of(kSize), 3, 1024)));
  CHECK(steady * 100 < kBlocks - kWarmUp);
}
#endif
