#include "sync/spsc_ring.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

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

TEST_CASE("an spsc ring holds at least what was asked - in whole blocks") {
  using Small = SpscRing<std::uint64_t>;
  using Large = SpscRing<std::array<std::byte, 100>>;
  CHECK(Small::kPerBlock == 7);  // 7 items + the ready mark fill one cache line
  CHECK(Large::kPerBlock == 1);
  for (const std::size_t asked :
       {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{1000}, std::size_t{4096}}) {
    const Small small(asked);
    CHECK(small.capacity() >= std::max<std::size_t>(asked, 2));
    CHECK(small.capacity() % Small::kPerBlock == 0);
    CHECK(std::has_single_bit(small.capacity() / Small::kPerBlock));
    const Large large(asked);
    CHECK(large.capacity() >= std::max<std::size_t>(asked, 2));
    CHECK(std::has_single_bit(large.capacity()));
  }
  CHECK(Large(5).capacity() == 8);
  CHECK_THROWS_AS(Small((std::size_t{1} << 40) + 1), std::length_error);
}

TEST_CASE("an spsc ring reports full and empty at its edges and keeps FIFO across wrap-around") {
  SpscRing<int> ring(20);
  const int cap = static_cast<int>(ring.capacity());
  int out = -1;
  CHECK_FALSE(ring.try_pop(out));
  CHECK(out == -1);
  CHECK(ring.empty_guess());
  for (int lap = 0; lap < 10; ++lap) {
    for (int i = 0; i < cap; ++i) REQUIRE(ring.try_push(lap * 1000 + i));
    CHECK_FALSE(ring.try_push(99));
    CHECK(ring.size_guess() == ring.capacity());
    for (int i = 0; i < cap; ++i) {
      REQUIRE(ring.try_pop(out));
      CHECK(out == lap * 1000 + i);
    }
    CHECK_FALSE(ring.try_pop(out));
    CHECK(ring.size_guess() == 0);
  }
}

TEST_CASE("an spsc ring sees items across block boundaries at every phase of the ring") {
  // Offsets the ring by one more position each round so every (block, item) cell is the head
  // when the producer is one ahead: the consumer must neither miss nor pre-empt an item.
  SpscRing<std::uint64_t> ring(16);
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  std::uint64_t out = 0;
  for (std::size_t round = 0; round < 3 * ring.capacity(); ++round) {
    REQUIRE(ring.try_push(std::uint64_t{next_in++}));
    REQUIRE(ring.try_pop(out));
    CHECK(out == next_out++);
    CHECK_FALSE(ring.try_pop(out));
  }
}

TEST_CASE("an spsc ring frees one slot per pop when it was full") {
  SpscRing<std::uint64_t> ring(2);
  const std::uint64_t cap = ring.capacity();
  for (std::uint64_t i = 0; i < cap; ++i) REQUIRE(ring.try_push(std::uint64_t{i}));
  REQUIRE_FALSE(ring.try_push(std::uint64_t{cap}));
  std::uint64_t out = 0;
  REQUIRE(ring.try_pop(out));
  CHECK(out == 0);
  REQUIRE(ring.try_push(std::uint64_t{cap}));  // the producer must re-read head_
  REQUIRE_FALSE(ring.try_push(std::uint64_t{cap + 1}));
  for (std::uint64_t i = 1; i <= cap; ++i) {
    REQUIRE(ring.try_pop(out));
    CHECK(out == i);
  }
  CHECK_FALSE(ring.try_pop(out));
}

TEST_CASE("an spsc ring's bulk calls move as many items as fit - in order - across wrap-around") {
  SpscRing<int> ring(8);
  const std::size_t cap = ring.capacity();
  std::vector<int> in(cap + 10);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i);
  std::vector<int> out(cap + 10);
  CHECK(ring.try_pop_n(out.data(), out.size()) == 0);
  REQUIRE(ring.try_push_n(in.data(), 5) == 5);
  REQUIRE(ring.try_pop_n(out.data(), 3) == 3);  // head at 3: filling up wraps around
  CHECK(out[0] == 0);
  CHECK(out[2] == 2);
  CHECK(ring.try_push_n(in.data() + 5, cap + 5) == cap - 2);
  CHECK(ring.try_push_n(in.data(), 1) == 0);
  REQUIRE(ring.try_pop_n(out.data(), out.size()) == cap);
  for (std::size_t i = 0; i < cap; ++i) CHECK(out[i] == static_cast<int>(i + 3));
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
  for (std::size_t i = 0; i < ring.capacity(); ++i) {
    REQUIRE(ring.try_push(std::make_unique<int>(static_cast<int>(i))));
  }
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
