#include <switchyard/detail/spsc_ring.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

using switchyard::detail::SpscRing;

namespace {

// Counts live instances so a test can tell a leak or a double destroy from a correct ring.
struct Tracked {
  static inline std::atomic<int> live{0};
  int value = 0;
  Tracked() noexcept { ++live; }
  explicit Tracked(int v) noexcept : value(v) { ++live; }
  Tracked(const Tracked& other) noexcept : value(other.value) { ++live; }
  Tracked(Tracked&& other) noexcept : value(other.value) { ++live; }
  Tracked& operator=(const Tracked&) noexcept = default;
  Tracked& operator=(Tracked&&) noexcept = default;
  ~Tracked() { --live; }
};

}  // namespace

TEST_CASE("an spsc ring rounds its capacity up to a power of two") {
  CHECK(SpscRing<int>(0).capacity() == 2);
  CHECK(SpscRing<int>(1).capacity() == 2);
  CHECK(SpscRing<int>(5).capacity() == 8);
  CHECK(SpscRing<int>(1024).capacity() == 1024);
  CHECK_THROWS_AS(SpscRing<int>((std::size_t{1} << 40) + 1), std::length_error);
}

TEST_CASE("an spsc ring reports full and empty at its edges and keeps FIFO across wrap-around") {
  SpscRing<int> ring(4);
  int out = -1;
  CHECK_FALSE(ring.try_pop(out));
  CHECK(out == -1);
  CHECK(ring.empty_guess());
  for (int lap = 0; lap < 10; ++lap) {
    for (int i = 0; i < 4; ++i) REQUIRE(ring.try_push(lap * 10 + i));
    CHECK_FALSE(ring.try_push(99));
    CHECK(ring.size_guess() == 4);
    for (int i = 0; i < 4; ++i) {
      REQUIRE(ring.try_pop(out));
      CHECK(out == lap * 10 + i);
    }
    CHECK_FALSE(ring.try_pop(out));
    CHECK(ring.size_guess() == 0);
  }
}

TEST_CASE("an spsc ring frees one slot per pop when it was full") {
  SpscRing<int> ring(2);
  REQUIRE(ring.try_push(1));
  REQUIRE(ring.try_push(2));
  REQUIRE_FALSE(ring.try_push(3));
  int out = 0;
  REQUIRE(ring.try_pop(out));
  CHECK(out == 1);
  REQUIRE(ring.try_push(3));  // the producer must re-read head_, not trust its stale copy
  REQUIRE_FALSE(ring.try_push(4));
  REQUIRE(ring.try_pop(out));
  CHECK(out == 2);
  REQUIRE(ring.try_pop(out));
  CHECK(out == 3);
}

TEST_CASE("an spsc ring's bulk calls move as many items as fit, in order, across wrap-around") {
  SpscRing<int> ring(8);
  std::array<int, 12> in{};
  for (int i = 0; i < 12; ++i) in[static_cast<std::size_t>(i)] = i;
  std::array<int, 12> out{};
  CHECK(ring.try_pop_n(out.data(), out.size()) == 0);
  REQUIRE(ring.try_push_n(in.data(), 5) == 5);
  REQUIRE(ring.try_pop_n(out.data(), 3) == 3);  // head at 3: the next push wraps
  CHECK(out[0] == 0);
  CHECK(out[2] == 2);
  CHECK(ring.try_push_n(in.data() + 5, 7) == 6);  // 2 left + 6 = 8 = capacity
  CHECK(ring.try_push_n(in.data(), 1) == 0);
  REQUIRE(ring.try_pop_n(out.data(), out.size()) == 8);
  for (int i = 0; i < 8; ++i) CHECK(out[static_cast<std::size_t>(i)] == i + 3);
  CHECK(ring.empty_guess());
}

TEST_CASE("an spsc ring destroys what it holds exactly once") {
  REQUIRE(Tracked::live == 0);
  {
    SpscRing<Tracked> ring(8);
    for (int i = 0; i < 6; ++i) REQUIRE(ring.try_emplace(i));
    Tracked out;
    REQUIRE(ring.try_pop(out));
    CHECK(out.value == 0);
    CHECK(Tracked::live == 6);  // 5 in the ring + out
  }
  CHECK(Tracked::live == 0);
}

TEST_CASE("an spsc ring leaves a rejected item with its caller") {
  SpscRing<std::unique_ptr<int>> ring(2);
  REQUIRE(ring.try_push(std::make_unique<int>(1)));
  REQUIRE(ring.try_push(std::make_unique<int>(2)));
  auto third = std::make_unique<int>(3);
  CHECK_FALSE(ring.try_push(std::move(third)));
  REQUIRE(third != nullptr);
  CHECK(*third == 3);
}

TEST_CASE("an spsc ring hands every item from one thread to another in order") {
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr std::uint64_t kItems = 200'000;
#else
  constexpr std::uint64_t kItems = 5'000'000;
#endif
  SpscRing<std::uint64_t> ring(64);  // small: many wrap-arounds and full/empty edges
  std::thread producer([&] {
    std::uint64_t next = 1;
    std::array<std::uint64_t, 7> batch{};
    while (next <= kItems) {
      if (next % 3 == 0 && next + batch.size() <= kItems) {
        // Mix in bulk pushes so both code paths meet the other side's single and bulk calls.
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i] = next + i;
        const std::size_t pushed = ring.try_push_n(batch.data(), batch.size());
        next += pushed;
        if (pushed == 0) std::this_thread::yield();
      } else if (ring.try_push(std::uint64_t{next})) {
        ++next;
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::uint64_t expected = 1;
  std::uint64_t sum = 0;
  bool in_order = true;
  std::array<std::uint64_t, 5> batch{};
  while (expected <= kItems) {
    std::size_t popped = 0;
    if (expected % 2 == 0) {
      popped = ring.try_pop_n(batch.data(), batch.size());
    } else {
      popped = ring.try_pop(batch[0]) ? 1 : 0;
    }
    if (popped == 0) {
      std::this_thread::yield();
      continue;
    }
    for (std::size_t i = 0; i < popped; ++i) {
      if (batch[i] != expected) in_order = false;
      sum += batch[i];
      ++expected;
    }
  }
  producer.join();
  CHECK(in_order);
  CHECK(sum == kItems * (kItems + 1) / 2);
  std::uint64_t extra = 0;
  CHECK_FALSE(ring.try_pop(extra));
}
