#include "sync/idle_wait.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <thread>

#include "sync/coalescing_event_count.hpp"
#include "sync/event_count.hpp"

using switchyard::ManualClock;
using switchyard::SystemClock;
using switchyard::TimePoint;
using switchyard::WaitStrategy;
using switchyard::detail::CoalescingEventCount;
using switchyard::detail::EventCount;
using switchyard::detail::IdleWait;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

constexpr auto kLong = 10s;
constexpr auto kAtOnce = 5s;

/// How many pauses `idle` grants before it asks to park (stops at `limit`).
std::uint32_t pauses_before_park(IdleWait& idle, std::uint32_t limit) {
  std::uint32_t n = 0;
  while (n < limit && idle.pause([]() noexcept { return false; })) ++n;
  return n;
}

}  // namespace

TEST_CASE("the park strategy spins, then yields, then asks its caller to park") {
  IdleWait idle(WaitStrategy::park);
  CHECK(pauses_before_park(idle, 1000) == IdleWait::kSpinRounds + IdleWait::kYieldRounds);
  // Once it says park it keeps saying so: a woken caller that finds nothing parks again.
  CHECK_FALSE(idle.pause([]() noexcept { return false; }));
}

TEST_CASE("the spin and yield strategies never ask to park") {
  IdleWait spin(WaitStrategy::spin);
  IdleWait yield(WaitStrategy::yield);
  CHECK(pauses_before_park(spin, 1000) == 1000);
  CHECK(pauses_before_park(yield, 1000) == 1000);
}

TEST_CASE("a spin round ends at the first look at the hint that says work may be there") {
  IdleWait idle(WaitStrategy::spin);
  int looks = 0;
  CHECK(idle.pause([&]() noexcept {
    ++looks;
    return true;
  }));
  CHECK(looks == 1);
  looks = 0;
  CHECK(idle.pause([&]() noexcept {
    ++looks;
    return false;
  }));
  CHECK(looks == static_cast<int>(IdleWait::kPausesPerRound));
}

TEST_CASE("park returns at once, registered no more, when the condition holds once registered") {
  EventCount ec;
  int checks = 0;
  const auto start = Steady::now();
  IdleWait::park(
      ec,
      [&]() noexcept {
        ++checks;
        CHECK(ec.has_waiters());  // checked after registering: a notify now is not missed
        return true;
      },
      kLong);
  CHECK(Steady::now() - start < kAtOnce);
  CHECK(checks == 1);
  CHECK_FALSE(ec.has_waiters());
}

TEST_CASE("park with a deadline already passed does not sleep") {
  EventCount ec;
  SystemClock clock;
  const TimePoint now = clock.now();
  const auto start = Steady::now();
  IdleWait::park(
      ec, []() noexcept { return false; }, now, now - 1s, clock);
  IdleWait::park(
      ec, []() noexcept { return false; }, now, now, clock);
  CHECK(Steady::now() - start < kAtOnce);
  CHECK_FALSE(ec.has_waiters());
}

TEST_CASE("park sleeps until the deadline when nothing notifies") {
  CoalescingEventCount ec;
  SystemClock clock;
  const TimePoint now = clock.now();
  const auto start = Steady::now();
  IdleWait::park(
      ec, []() noexcept { return false; }, now, now + 2ms, clock);
  CHECK(Steady::now() - start >= 2ms);
}

TEST_CASE("park on a manual clock sleeps no longer than the clock's max_real_sleep") {
  // The manual clock's time moves by advance(), not by sleeping: a park an hour away by that
  // clock must come back after a short real sleep to look at the clock again.
  EventCount ec;
  ManualClock clock;
  const auto start = Steady::now();
  IdleWait::park(
      ec, []() noexcept { return false; }, clock.now(), clock.now() + 1h, clock);
  CHECK(Steady::now() - start < kAtOnce);
}

TEST_CASE("a parked thread wakes when another notifies after making its condition true") {
  for (auto strategy : {WaitStrategy::park, WaitStrategy::yield, WaitStrategy::spin}) {
    EventCount ec;
    std::atomic<bool> work{false};
    std::latch started(1);
    Steady::duration waited{};
    std::thread waiter([&] {
      IdleWait idle(strategy);
      started.count_down();
      const auto start = Steady::now();
      while (!work.load(std::memory_order_acquire)) {
        auto there = [&]() noexcept { return work.load(std::memory_order_acquire); };
        if (idle.pause(there)) continue;
        IdleWait::park(ec, there, kLong);
      }
      waited = Steady::now() - start;
    });
    started.wait();
    work.store(true, std::memory_order_release);
    ec.notify_all();
    waiter.join();
    CHECK(waited < kAtOnce);
  }
}
