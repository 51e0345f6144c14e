#include <switchyard/detail/ring.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

using switchyard::detail::Ring;

TEST_CASE("a ring rounds its capacity up to a power of two") {
  CHECK(Ring<int>(1).capacity() == 2);
  CHECK(Ring<int>(5).capacity() == 8);
  CHECK(Ring<int>(1024).capacity() == 1024);
}

TEST_CASE("a ring reports full and empty at its edges and keeps FIFO across wrap-around") {
  Ring<int> ring(4);
  int out = 0;
  CHECK_FALSE(ring.try_pop(out));
  for (int lap = 0; lap < 10; ++lap) {
    for (int i = 0; i < 4; ++i) REQUIRE(ring.try_push(lap * 10 + i));
    CHECK_FALSE(ring.try_push(99));
    CHECK(ring.size_guess() == 4);
    for (int i = 0; i < 4; ++i) {
      REQUIRE(ring.try_pop(out));
      CHECK(out == lap * 10 + i);
    }
    CHECK_FALSE(ring.try_pop(out));
  }
}

TEST_CASE("a ring destroys items it still holds when it is destroyed") {
  auto counter = std::make_shared<int>(0);
  {
    Ring<std::shared_ptr<int>> ring(8);
    for (int i = 0; i < 5; ++i) REQUIRE(ring.try_push(std::shared_ptr<int>(counter)));
    CHECK(counter.use_count() == 6);
  }
  CHECK(counter.use_count() == 1);
}

TEST_CASE("a ring hands every item to exactly one consumer under contention") {
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr std::uint64_t kPerProducer = 50'000;
#else
  constexpr std::uint64_t kPerProducer = 500'000;
#endif
  constexpr int kProducers = 4;
  constexpr int kConsumers = 4;
  Ring<std::uint64_t> ring(64);  // small: forces many wrap-arounds and full/empty edges
  std::atomic<std::uint64_t> sum{0};
  std::atomic<std::uint64_t> count{0};
  std::vector<std::vector<std::uint64_t>> last_seen(
      kConsumers, std::vector<std::uint64_t>(kProducers, 0));
  std::atomic<bool> order_ok{true};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 1; i <= kPerProducer; ++i) {
        const std::uint64_t item = (static_cast<std::uint64_t>(p) << 32) | i;
        while (!ring.try_push(std::uint64_t{item})) std::this_thread::yield();
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      std::uint64_t item = 0;
      while (count.load(std::memory_order_relaxed) < kPerProducer * kProducers) {
        if (!ring.try_pop(item)) {
          std::this_thread::yield();
          continue;
        }
        const auto producer = item >> 32;
        const auto seq = item & 0xffffffffu;
        // Per producer, one consumer sees that producer's items in increasing order.
        if (seq <= last_seen[c][producer]) order_ok = false;
        last_seen[c][producer] = seq;
        sum.fetch_add(seq, std::memory_order_relaxed);
        count.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(count.load() == kPerProducer * kProducers);
  CHECK(sum.load() == kProducers * (kPerProducer * (kPerProducer + 1) / 2));
  CHECK(order_ok.load());
}
