#include "sync/event_count.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <thread>

using switchyard::detail::EventCount;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

// A wait that should return at once is given this long: a lost wake-up shows as a test that
// takes `kLong` and then fails on its elapsed time, never as a hang.
constexpr auto kLong = 10s;
constexpr auto kAtOnce = 5s;

}  // namespace

TEST_CASE("a wait with no notify returns after its timeout and unregisters the waiter") {
  EventCount ec;
  const std::uint32_t key = ec.prepare_wait();
  CHECK(ec.has_waiters());
  const auto start = Steady::now();
  ec.wait(key, 2ms);
  CHECK(Steady::now() - start >= 2ms);
  CHECK_FALSE(ec.has_waiters());
}

TEST_CASE("a notify between prepare_wait and wait makes the wait return at once") {
  EventCount ec;
  const std::uint32_t key = ec.prepare_wait();
  ec.notify_all();
  const auto start = Steady::now();
  ec.wait(key, kLong);
  CHECK(Steady::now() - start < kAtOnce);
}

TEST_CASE("a notify before prepare_wait does not end a later wait") {
  EventCount ec;
  ec.notify_all();
  const std::uint32_t key = ec.prepare_wait();
  const auto start = Steady::now();
  ec.wait(key, 2ms);
  CHECK(Steady::now() - start >= 2ms);
}

TEST_CASE("a cancelled wait leaves no waiter registered") {
  EventCount ec;
  (void)ec.prepare_wait();
  (void)ec.prepare_wait();
  ec.cancel_wait();
  CHECK(ec.has_waiters());
  ec.cancel_wait();
  CHECK_FALSE(ec.has_waiters());
}

TEST_CASE("a zero or negative timeout does not sleep") {
  EventCount ec;
  const auto start = Steady::now();
  ec.wait(ec.prepare_wait(), 0ns);
  ec.wait(ec.prepare_wait(), -1s);
  CHECK(Steady::now() - start < kAtOnce);
  CHECK_FALSE(ec.has_waiters());
}

TEST_CASE("a thread parked on the count wakes when another notifies after its change") {
  EventCount ec;
  std::atomic<bool> ready{false};
  std::latch registered(1);
  Steady::duration slept{};
  std::thread waiter([&] {
    const auto start = Steady::now();
    while (!ready.load(std::memory_order_acquire)) {
      const std::uint32_t key = ec.prepare_wait();
      registered.count_down();
      if (ready.load(std::memory_order_acquire)) {
        ec.cancel_wait();
        break;
      }
      ec.wait(key, kLong);
    }
    slept = Steady::now() - start;
  });
  registered.wait();
  ready.store(true, std::memory_order_release);
  ec.notify_all();
  waiter.join();
  CHECK(slept < kAtOnce);
}

TEST_CASE("notify_one wakes one of two parked threads, notify_all the other") {
  EventCount ec;
  std::atomic<int> tokens{0};
  std::atomic<int> woken{0};
  std::latch registered(2);
  auto take_token = [&] {
    bool counted = false;
    for (;;) {
      int t = tokens.load(std::memory_order_acquire);
      if (t > 0 && tokens.compare_exchange_strong(t, t - 1, std::memory_order_acq_rel)) break;
      const std::uint32_t key = ec.prepare_wait();
      if (!counted) {
        registered.count_down();
        counted = true;
      }
      if (tokens.load(std::memory_order_acquire) > 0) {
        ec.cancel_wait();
        continue;
      }
      ec.wait(key, kLong);
    }
    woken.fetch_add(1, std::memory_order_acq_rel);
  };
  const auto start = Steady::now();
  std::thread a(take_token), b(take_token);
  registered.wait();
  tokens.fetch_add(1, std::memory_order_acq_rel);
  ec.notify_one();
  tokens.fetch_add(1, std::memory_order_acq_rel);
  ec.notify_all();
  a.join();
  b.join();
  CHECK(woken.load() == 2);
  CHECK(Steady::now() - start < kAtOnce);
}

TEST_CASE("no wake-up is lost in a ping-pong of many rounds between two parked threads") {
  // Each side waits for the turn counter to reach its value with the full protocol; a lost
  // wake-up would stall a round for kLong and fail the elapsed-time check.
  EventCount ec;
  std::atomic<std::uint64_t> turn{0};
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr std::uint64_t kRounds = 2'000;
#else
  constexpr std::uint64_t kRounds = 20'000;
#endif
  auto play = [&](std::uint64_t parity) {
    for (std::uint64_t mine = parity; mine < kRounds; mine += 2) {
      while (turn.load(std::memory_order_acquire) != mine) {
        const std::uint32_t key = ec.prepare_wait();
        if (turn.load(std::memory_order_acquire) == mine) {
          ec.cancel_wait();
          break;
        }
        ec.wait(key, kLong);
      }
      turn.store(mine + 1, std::memory_order_release);
      ec.notify_all();
    }
  };
  const auto start = Steady::now();
  std::thread odd(play, 1);
  play(0);
  odd.join();
  CHECK(turn.load() == kRounds);
  CHECK(Steady::now() - start < kLong);
}
