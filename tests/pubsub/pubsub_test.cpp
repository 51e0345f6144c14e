// Redis-style pub/sub: fire-and-forget channels and glob patterns, bounded subscriber buffers.
#include <catch2/catch.hpp>

#include <latch>
#include <mutex>
#include <string>
#include <vector>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {
/// Collects what a handler saw, for the test thread to read.
struct Inbox {
  std::mutex mutex;
  std::vector<std::string> items;
  void add(const Message& m) {
    std::lock_guard lock(mutex);
    items.push_back(std::string(m.key()) + ":" + std::string(m.payload().as_string()));
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return items.size();
  }
  std::vector<std::string> copy() {
    std::lock_guard lock(mutex);
    return items;
  }
};
}  // namespace

TEST_CASE("a subscriber receives what is published on its channel - in order") {
  Broker broker;
  Inbox inbox;
  auto sub = broker.subscribe("news", [&](const Message& m) { inbox.add(m); });
  CHECK(broker.publish("news", "one") == 1);
  CHECK(broker.publish("sports", "ignored") == 0);
  CHECK(broker.publish("news", "two") == 1);
  REQUIRE(eventually([&] { return inbox.size() == 2; }));
  CHECK(inbox.copy() == std::vector<std::string>{"news:one", "news:two"});
}

TEST_CASE("a pattern subscriber receives every matching channel") {
  Broker broker;
  Inbox inbox;
  auto sub = broker.psubscribe("user.*.created", [&](const Message& m) { inbox.add(m); });
  CHECK(sub.is_pattern());
  CHECK(broker.publish("user.42.created", "a") == 1);
  CHECK(broker.publish("user.42.deleted", "b") == 0);
  CHECK(broker.publish("user..created", "c") == 1);
  REQUIRE(eventually([&] { return inbox.size() == 2; }));
  CHECK(inbox.copy() == std::vector<std::string>{"user.42.created:a", "user..created:c"});
}

TEST_CASE("a publish with no subscriber goes nowhere and is not stored") {
  Broker broker;
  CHECK(broker.publish("void", "lost on purpose") == 0);
  Inbox inbox;
  auto sub = broker.subscribe("void", [&](const Message& m) { inbox.add(m); });
  CHECK(broker.publish("void", "seen") == 1);
  REQUIRE(eventually([&] { return inbox.size() == 1; }));
  CHECK(inbox.copy() == std::vector<std::string>{"void:seen"});
}

TEST_CASE("a slow subscriber never blocks the publisher: its drops are counted") {
  Broker broker;
  std::latch release(1);
  std::atomic<int> handled{0};
  auto slow = broker.subscribe("firehose",
                               [&](const Message&) {
                                 release.wait();
                                 handled.fetch_add(1);
                               },
                               {.buffer = 4, .when_full = SlowSubscriber::drop});
  std::size_t accepted = 0;
  for (int i = 0; i < 100; ++i) accepted += broker.publish("firehose", "x");
  const auto stats = slow.stats();
  CHECK(accepted + stats.dropped == 100);
  CHECK(stats.dropped >= 100 - 4 - 1);  // buffer of 4, plus one in the handler at most
  release.count_down();
  REQUIRE(eventually([&] { return handled.load() == static_cast<int>(accepted); }));
}

TEST_CASE("a blocking subscriber makes the publisher wait for room instead of dropping") {
  Broker broker;
  std::atomic<int> handled{0};
  auto sub = broker.subscribe(
      "orders", [&](const Message&) { handled.fetch_add(1); },
      {.buffer = 2, .when_full = SlowSubscriber::block, .block_timeout = std::chrono::seconds(30)});
  for (int i = 0; i < 1000; ++i) CHECK(broker.publish("orders", "x") == 1);
  REQUIRE(eventually([&] { return handled.load() == 1000; }));
  CHECK(sub.stats().dropped == 0);
}

TEST_CASE("unsubscribing from inside the handler is safe and stops deliveries") {
  Broker broker;
  std::atomic<int> calls{0};
  Subscription sub;
  std::latch subscribed(1);
  sub = broker.subscribe("once", [&](const Message&) {
    subscribed.wait();
    calls.fetch_add(1);
    sub.unsubscribe();
  });
  subscribed.count_down();
  broker.publish("once", "1");
  REQUIRE(eventually([&] { return !sub.active(); }));
  CHECK(broker.publish("once", "2") == 0);
  CHECK(calls.load() == 1);
}

TEST_CASE("unsubscribing from another thread waits for the running handler - then stops") {
  Broker broker;
  std::latch entered(1);
  std::latch release(1);
  std::atomic<int> calls{0};
  auto sub = broker.subscribe("jobs", [&](const Message&) {
    calls.fetch_add(1);
    entered.count_down();
    release.wait();
  });
  broker.publish("jobs", "1");
  entered.wait();
  std::thread stopper([&] { sub.unsubscribe(); });
  release.count_down();
  stopper.join();
  CHECK_FALSE(sub.active());
  CHECK(broker.publish("jobs", "2") == 0);
  CHECK(calls.load() == 1);
}

TEST_CASE("a handler that throws is counted and the subscription goes on") {
  Broker broker;
  std::atomic<int> calls{0};
  auto sub = broker.subscribe("flaky", [&](const Message& m) {
    calls.fetch_add(1);
    if (m.payload().as_string() == "bad") throw std::runtime_error("boom");
  });
  broker.publish("flaky", "bad");
  broker.publish("flaky", "good");
  REQUIRE(eventually([&] { return sub.stats().delivered == 2; }));
  CHECK(sub.stats().handler_errors == 1);
}

TEST_CASE("every subscriber of a channel gets the same shared message") {
  Broker broker;
  std::atomic<const void*> first{nullptr};
  std::atomic<const void*> second{nullptr};
  auto a = broker.subscribe("fan", [&](const Message& m) { first = m.payload().bytes().data(); });
  auto b = broker.subscribe("fan", [&](const Message& m) { second = m.payload().bytes().data(); });
  CHECK(broker.publish("fan", "payload") == 2);
  REQUIRE(eventually([&] { return first.load() != nullptr && second.load() != nullptr; }));
  CHECK(first.load() == second.load());  // one payload in memory, not two copies
}

TEST_CASE("many publishers and subscribers account for every message under contention") {
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kPerPublisher = 5'000;
#else
  constexpr int kPerPublisher = 100'000;
#endif
  Broker broker;
  std::atomic<std::uint64_t> exact{0};
  std::atomic<std::uint64_t> pattern{0};
  auto s1 = broker.subscribe("metrics", [&](const Message&) { exact.fetch_add(1); },
                             {.buffer = 1024, .when_full = SlowSubscriber::block});
  auto s2 = broker.psubscribe("metr*", [&](const Message&) { pattern.fetch_add(1); },
                              {.buffer = 1024, .when_full = SlowSubscriber::block});
  std::vector<std::thread> publishers;
  std::atomic<std::uint64_t> reached{0};
  for (int p = 0; p < 2; ++p) {
    publishers.emplace_back([&] {
      for (int i = 0; i < kPerPublisher; ++i) reached.fetch_add(broker.publish("metrics", "m"));
    });
  }
  for (auto& t : publishers) t.join();
  REQUIRE(eventually([&] { return exact.load() + pattern.load() == reached.load(); }));
  CHECK(exact.load() + s1.stats().dropped == 2u * kPerPublisher);
  CHECK(pattern.load() + s2.stats().dropped == 2u * kPerPublisher);
}

TEST_CASE("shutdown ends every subscription") {
  Broker broker;
  auto sub = broker.subscribe("x", [](const Message&) {});
  broker.shutdown(Shutdown::stop);
  CHECK_FALSE(sub.active());
  CHECK(broker.publish("x", "late") == 0);
}
