#include "sync/coalescing_event_count.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

using switchyard::detail::CoalescingEventCount;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

// A wait that should return at once is given kLong: a lost wake-up shows as a test that takes
// that long and then fails on its elapsed time, never as a hang.
constexpr auto kLong = 10s;
constexpr auto kAtOnce = 5s;

/// How long `wait(key, timeout)` took.
Steady::duration timed_wait(CoalescingEventCount& ec, CoalescingEventCount::Key key,
                            std::chrono::nanoseconds timeout) {
  const auto start = Steady::now();
  ec.wait(key, timeout);
  return Steady::now() - start;
}

}  // namespace

TEST_CASE("a coalescing wait with no notify returns after its timeout") {
  CoalescingEventCount ec;
  CHECK(timed_wait(ec, ec.prepare_wait(), 2ms) >= 2ms);
}

TEST_CASE("a notify between prepare_wait and wait makes the coalescing wait return at once") {
  CoalescingEventCount ec;
  const auto key = ec.prepare_wait();
  ec.notify_all();
  CHECK(timed_wait(ec, key, kLong) < kAtOnce);
}

TEST_CASE("a notify before prepare_wait does not end a later coalescing wait") {
  CoalescingEventCount ec;
  ec.notify_all();
  CHECK(timed_wait(ec, ec.prepare_wait(), 2ms) >= 2ms);
}

TEST_CASE("a notify that finds waiters starts a new round that a later registration joins") {
  CoalescingEventCount ec;
  const auto first = ec.prepare_wait();
  ec.notify_all();
  const auto second = ec.prepare_wait();
  CHECK(second.round == first.round + 1);
  CHECK(second.wake != first.wake);
  // A notify with nobody registered keeps the round.
  ec.cancel_wait(second);
  ec.notify_all();
  CHECK(ec.prepare_wait().round == second.round);
}

TEST_CASE("a waiter dropped by a notify does not take a later waiter off the count") {
  // A registers, a notify drops it, B registers, then A leaves (cancel, as after a wake-up
  // that found work). A's leave must not unregister B, or the next notify would find nobody
  // and B would sleep its whole timeout.
  CoalescingEventCount ec;
  const auto a = ec.prepare_wait();
  ec.notify_all();
  const auto b = ec.prepare_wait();
  ec.cancel_wait(a);
  ec.notify_all();
  CHECK(timed_wait(ec, b, kLong) < kAtOnce);
}

TEST_CASE("every parked thread wakes on one notify") {
  CoalescingEventCount ec;
  std::atomic<bool> ready{false};
  constexpr int kThreads = 4;
  std::latch registered(kThreads);
  std::atomic<int> late{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      bool counted = false;
      const auto start = Steady::now();
      while (!ready.load(std::memory_order_acquire)) {
        const auto key = ec.prepare_wait();
        if (!counted) {
          registered.count_down();
          counted = true;
        }
        if (ready.load(std::memory_order_acquire)) {
          ec.cancel_wait(key);
          break;
        }
        ec.wait(key, kLong);
      }
      if (Steady::now() - start >= kAtOnce) late.fetch_add(1, std::memory_order_relaxed);
    });
  }
  registered.wait();
  ready.store(true, std::memory_order_release);
  ec.notify_all();
  for (auto& t : threads) t.join();
  CHECK(late.load() == 0);
}

TEST_CASE("no wake-up is lost between a fast appender and parked readers") {
  // An appender bumps a counter and notifies every time; readers each wait for every value
  // with the full protocol. A lost wake-up stalls a reader for kLong and fails the check.
  CoalescingEventCount ec;
  std::atomic<std::uint64_t> appended{0};
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr std::uint64_t kAppends = 2'000;
#else
  constexpr std::uint64_t kAppends = 20'000;
#endif
  auto read_all = [&] {
    for (std::uint64_t seen = 0; seen < kAppends;) {
      const std::uint64_t now = appended.load(std::memory_order_acquire);
      if (now > seen) {
        seen = now;
        continue;
      }
      const auto key = ec.prepare_wait();
      if (appended.load(std::memory_order_acquire) > seen) {
        ec.cancel_wait(key);
        continue;
      }
      ec.wait(key, kLong);
    }
  };
  const auto start = Steady::now();
  std::thread r1(read_all), r2(read_all);
  for (std::uint64_t i = 0; i < kAppends; ++i) {
    appended.fetch_add(1, std::memory_order_release);
    ec.notify_all();
    if (i % 64 == 0) std::this_thread::yield();  // let readers park now and then
  }
  r1.join();
  r2.join();
  CHECK(Steady::now() - start < kLong);
}
