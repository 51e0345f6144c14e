#include <switchyard/detail/ring.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
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

namespace {

/// Pops a run into `out` (from its start); how many.
template <class T, std::size_t N>
std::size_t pop_run(Ring<T>& ring, std::array<T, N>& out, std::size_t max) {
  std::size_t i = 0;
  return ring.try_pop_run(max, [&](T&& item) noexcept { out[i++] = std::move(item); });
}

using Run = std::array<std::uint64_t, 7>;

/// Producers push numbered items through a small ring (many wrap-arounds, full and empty
/// edges) while consumers take them with `take(consumer, ring, run)` -> how many went into
/// `run`. Checks every item arrived exactly once and, per producer, in order at each consumer.
/// With `push_runs`, the odd-numbered producers push in runs of 1 to 7 (try_push_run).
template <class Take>
void hand_off_under_contention(int producers, int consumers, Take take, bool push_runs = false) {
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr std::uint64_t kPerProducer = 50'000;
#else
  constexpr std::uint64_t kPerProducer = 500'000;
#endif
  const auto total = kPerProducer * static_cast<std::uint64_t>(producers);
  Ring<std::uint64_t> ring(64);
  std::atomic<std::uint64_t> sum{0};
  std::atomic<std::uint64_t> count{0};
  std::atomic<bool> order_ok{true};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      if (push_runs && p % 2 == 1) {
        std::array<std::uint64_t, 7> batch{};
        for (std::uint64_t i = 1; i <= kPerProducer;) {
          const std::size_t n =
              std::min<std::uint64_t>(1 + (i % batch.size()), kPerProducer - i + 1);
          for (std::size_t k = 0; k < n; ++k)
            batch[k] = (static_cast<std::uint64_t>(p) << 32) | (i + k);
          for (std::size_t done = 0; done < n;) {
            const std::size_t pushed = ring.try_push_run(batch.data() + done, n - done);
            if (pushed == 0) std::this_thread::yield();
            done += pushed;
          }
          i += n;
        }
        return;
      }
      for (std::uint64_t i = 1; i <= kPerProducer; ++i) {
        const std::uint64_t item = (static_cast<std::uint64_t>(p) << 32) | i;
        while (!ring.try_push(std::uint64_t{item})) std::this_thread::yield();
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      std::vector<std::uint64_t> last_seen(static_cast<std::size_t>(producers), 0);
      Run run{};
      while (count.load(std::memory_order_relaxed) < total) {
        const std::size_t n = take(c, ring, run);
        if (n == 0) {
          std::this_thread::yield();
          continue;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const auto producer = run[k] >> 32;
          const auto seq = run[k] & 0xffffffffu;
          if (seq <= last_seen[producer]) order_ok = false;
          last_seen[producer] = seq;
          sum.fetch_add(seq, std::memory_order_relaxed);
        }
        count.fetch_add(n, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(count.load() == total);
  CHECK(sum.load() ==
        static_cast<std::uint64_t>(producers) * (kPerProducer * (kPerProducer + 1) / 2));
  CHECK(order_ok.load());
}

}  // namespace

TEST_CASE("a ring hands every item to exactly one consumer under contention") {
  hand_off_under_contention(4, 4, [](int, Ring<std::uint64_t>& ring, Run& run) {
    return ring.try_pop(run[0]) ? std::size_t{1} : std::size_t{0};
  });
}

TEST_CASE("ring runs and single pops together hand every item to exactly one consumer") {
  // Consumer 0 pops one at a time, consumer 1 in runs of up to 7, consumer 2 in runs of 1 to 7.
  std::atomic<std::size_t> turn{0};
  hand_off_under_contention(3, 3, [&](int c, Ring<std::uint64_t>& ring, Run& run) {
    if (c == 0) return ring.try_pop(run[0]) ? std::size_t{1} : std::size_t{0};
    const std::size_t max = c == 1 ? run.size() : 1 + turn.fetch_add(1) % run.size();
    return pop_run(ring, run, max);
  });
}

TEST_CASE("a ring pops a run of published items in order, never more than asked or held") {
  Ring<int> ring(8);
  std::array<int, 16> out{};
  CHECK(pop_run(ring, out, out.size()) == 0);
  for (int i = 0; i < 6; ++i) REQUIRE(ring.try_push(int{i}));
  REQUIRE(pop_run(ring, out, 4) == 4);
  CHECK(out[0] == 0);
  CHECK(out[3] == 3);
  REQUIRE(pop_run(ring, out, out.size()) == 2);
  CHECK(out[0] == 4);
  CHECK(out[1] == 5);
  // Across the wrap-around, and a full ring at once.
  for (int i = 0; i < 8; ++i) REQUIRE(ring.try_push(100 + i));
  CHECK_FALSE(ring.try_push(999));
  REQUIRE(pop_run(ring, out, out.size()) == 8);
  for (int i = 0; i < 8; ++i) CHECK(out[static_cast<std::size_t>(i)] == 100 + i);
  CHECK(pop_run(ring, out, out.size()) == 0);
  CHECK(pop_run(ring, out, 0) == 0);
  REQUIRE(ring.try_push(7));  // the cells went back to the producers
  REQUIRE(pop_run(ring, out, 1) == 1);
  CHECK(out[0] == 7);
}

TEST_CASE("ring push runs, pop runs and single ends together hand every item over exactly once") {
  // Producers 1 and 3 push in runs of 1 to 7, 0 and 2 one at a time; consumer 0 pops one at a
  // time, consumer 1 in runs of up to 7.
  hand_off_under_contention(
      4, 2,
      [](int c, Ring<std::uint64_t>& ring, Run& run) {
        if (c == 0) return ring.try_pop(run[0]) ? std::size_t{1} : std::size_t{0};
        return pop_run(ring, run, run.size());
      },
      /*push_runs=*/true);
}

TEST_CASE("a ring pushes a run into the free cells at its tail, in order, never more than free") {
  Ring<std::unique_ptr<int>> ring(8);
  std::array<std::unique_ptr<int>, 12> in;
  for (int i = 0; i < 12; ++i) in[static_cast<std::size_t>(i)] = std::make_unique<int>(i);
  CHECK(ring.try_push_run(in.data(), 0) == 0);
  REQUIRE(ring.try_push_run(in.data(), 3) == 3);
  // 5 cells left: a run of 9 takes 5 of them, and the 4 it could not place stay with us.
  REQUIRE(ring.try_push_run(in.data() + 3, 9) == 5);
  for (std::size_t i = 8; i < 12; ++i) {
    REQUIRE(in[i] != nullptr);
    CHECK(*in[i] == static_cast<int>(i));
  }
  CHECK(ring.try_push_run(in.data() + 8, 4) == 0);  // full
  for (int i = 0; i < 8; ++i) {
    std::unique_ptr<int> out;
    REQUIRE(ring.try_pop(out));
    CHECK(*out == i);
  }
  // Across the wrap-around.
  REQUIRE(ring.try_push_run(in.data() + 8, 4) == 4);
  for (int i = 8; i < 12; ++i) {
    std::unique_ptr<int> out;
    REQUIRE(ring.try_pop(out));
    CHECK(*out == i);
  }
}
