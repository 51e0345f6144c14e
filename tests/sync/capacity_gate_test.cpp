#include "sync/capacity_gate.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

using switchyard::SystemClock;
using switchyard::TimePoint;
using switchyard::detail::EventCount;
using switchyard::detail::GatedBuffer;
using switchyard::detail::pass_capacity_gate;
using switchyard::detail::Room;
using switchyard::detail::RoomWait;
using switchyard::detail::WhenFull;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

constexpr auto kLong = 10s;
constexpr auto kAtOnce = 5s;

/// A bounded counter: the buffer behind the gate in these tests.
struct Bounded {
  explicit Bounded(int limit, int in_use = 0) : capacity(limit), used(in_use) {}
  const int capacity;
  std::atomic<int> used;
  std::atomic<int> tries{0};
  std::atomic<int> dropped{0};
  std::atomic<bool> closed{false};
  bool out_of_memory = false;
  EventCount space;

  auto gated() {
    return GatedBuffer{
        [this]() noexcept {
          tries.fetch_add(1, std::memory_order_relaxed);
          if (out_of_memory) return Room::unavailable;
          int u = used.load(std::memory_order_acquire);
          while (u < capacity) {
            if (used.compare_exchange_weak(u, u + 1, std::memory_order_acq_rel)) return Room::taken;
          }
          return Room::full;
        },
        [this]() noexcept { return used.load(std::memory_order_relaxed) < capacity; },
        [this]() noexcept {
          if (used.load(std::memory_order_acquire) == 0) return false;
          used.fetch_sub(1, std::memory_order_acq_rel);
          dropped.fetch_add(1, std::memory_order_relaxed);
          return true;
        },
        [this]() noexcept { return closed.load(std::memory_order_acquire); }};
  }
  /// Frees one place, as a taker does, and tells a blocked arrival.
  void take_one() {
    used.fetch_sub(1, std::memory_order_seq_cst);
    space.notify_all();
  }
};

/// Waits (bounded) until a thread is parked on `b`'s space event: false if none came.
bool parked_on(Bounded& b) {
  const auto deadline = Steady::now() + kLong;
  while (!b.space.has_waiters()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

bool pass(Bounded& b, WhenFull when_full, TimePoint deadline = TimePoint::max()) {
  static const SystemClock clock;
  return pass_capacity_gate(Room::full, when_full, b.gated(), RoomWait{b.space, clock, deadline});
}

}  // namespace

TEST_CASE("a gate that rejects refuses a full buffer without trying again") {
  Bounded b(2, 2);
  CHECK_FALSE(pass(b, WhenFull::reject));
  CHECK(b.tries.load() == 0);
  CHECK(b.used.load() == 2);
}

TEST_CASE("a first try that took room passes the gate whatever the policy") {
  Bounded b(1, 1);
  static const SystemClock clock;
  CHECK(pass_capacity_gate(Room::taken, WhenFull::reject, b.gated(),
                           RoomWait{b.space, clock, TimePoint::max()}));
}

TEST_CASE("a gate that drops the oldest makes room and takes it") {
  Bounded b(2, 2);
  CHECK(pass(b, WhenFull::drop_oldest));
  CHECK(b.dropped.load() == 1);
  CHECK(b.used.load() == 2);
}

TEST_CASE("a gate that drops the oldest refuses when there is nothing to drop") {
  Bounded b(0);
  CHECK_FALSE(pass(b, WhenFull::drop_oldest));
  CHECK(b.dropped.load() == 0);
}

TEST_CASE("a closed buffer refuses under every policy, without waiting") {
  for (auto when_full : {WhenFull::reject, WhenFull::drop_oldest, WhenFull::block}) {
    Bounded b(1, 1);
    b.closed.store(true);
    const auto start = Steady::now();
    CHECK_FALSE(pass(b, when_full));
    CHECK(Steady::now() - start < kAtOnce);
    CHECK(b.dropped.load() == 0);
  }
}

TEST_CASE("an unavailable buffer refuses without waiting, even when the gate blocks") {
  Bounded b(1, 1);
  b.out_of_memory = true;
  const auto start = Steady::now();
  static const SystemClock clock;
  CHECK_FALSE(pass_capacity_gate(Room::unavailable, WhenFull::block, b.gated(),
                                 RoomWait{b.space, clock, TimePoint::max()}));
  CHECK(Steady::now() - start < kAtOnce);
}

TEST_CASE("a blocked arrival gives up at its deadline") {
  Bounded b(1, 1);
  static const SystemClock clock;
  const auto start = Steady::now();
  CHECK_FALSE(pass(b, WhenFull::block, clock.now() + 3ms));
  CHECK(Steady::now() - start >= 3ms);
  CHECK(Steady::now() - start < kAtOnce);
  CHECK_FALSE(b.space.has_waiters());
}

namespace {

/// An arrival blocked on a full `b` in its own thread; `settle` is what another thread then does
/// to end the wait. Returns whether the arrival passed, after checking it ended promptly.
template <class Settle>
bool parked_arrival_after(Bounded& b, Settle settle) {
  static const SystemClock clock;
  std::latch entered(1);
  std::atomic<bool> passed{false};
  std::thread arrival([&] {
    entered.count_down();
    passed.store(pass(b, WhenFull::block, clock.now() + kLong));
  });
  entered.wait();
  REQUIRE(parked_on(b));
  const auto start = Steady::now();
  settle();
  arrival.join();
  CHECK(Steady::now() - start < kAtOnce);
  return passed.load();
}

}  // namespace

TEST_CASE("a parked arrival takes the room another thread frees") {
  Bounded b(1, 1);
  CHECK(parked_arrival_after(b, [&] { b.take_one(); }));
  CHECK(b.used.load() == 1);
}

TEST_CASE("closing the buffer ends a parked arrival's wait with a refusal") {
  Bounded b(1, 1);
  CHECK_FALSE(parked_arrival_after(b, [&] {
    b.closed.store(true, std::memory_order_seq_cst);
    b.space.notify_all();
  }));
}
