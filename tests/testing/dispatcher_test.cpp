// Dispatcher: handlers run on the test's thread, one step at a time; a seed makes the choice of
// handler random yet reproducible, so two runs with one seed give one trace.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/switchyard.hpp"
#include "switchyard/testing.hpp"
#include "switchyard/testing/catch.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using testing::EventKind;

namespace {

/// One run of a flow: orders go to two competing inventory handlers (one fails every third
/// message once), each reservation is published on "reserved" to an audit handler.
/// Returns what the handlers saw, in order, and the recorder's trace.
std::pair<std::vector<std::string>, std::string> run_flow(std::uint64_t seed) {
  auto clock = std::make_shared<testing::VirtualClock>();
  auto recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker{BrokerOptions{.clock = clock, .interceptors = {recorder}}};
  broker.declare_queue("orders", QueueOptions{.retry_backoff = Backoff{.initial = 1s}});
  testing::Dispatcher dispatcher(broker, clock, {.seed = seed});
  std::vector<std::string> seen;
  const std::thread::id test_thread = std::this_thread::get_id();
  auto producer = broker.producer();
  auto inventory = [&](const char* name) {
    return [&, name](Delivery& d) {
      CHECK(std::this_thread::get_id() == test_thread);
      seen.push_back(std::string(name) + ":" + std::string(d.message().payload().as_string()) +
                     "#" + std::to_string(d.attempt()));
      if (d.attempt() == 1 && std::stoi(std::string(d.message().payload().as_string())) % 3 == 0) {
        throw std::runtime_error("out of stock, retry");
      }
      (void)broker.publish("reserved", d.message().payload().as_string());
    };
  };
  dispatcher.consume("orders", inventory("a"));
  dispatcher.consume("orders", inventory("b"));
  dispatcher.subscribe("reserved", [&](const Message& m) {
    CHECK(std::this_thread::get_id() == test_thread);
    seen.push_back("audit:" + std::string(m.payload().as_string()));
  });
  for (int i = 1; i <= 12; ++i) REQUIRE(producer.send("orders", std::to_string(i)));
  dispatcher.run_for(1min);
  return {seen, recorder->trace(1000)};
}

}  // namespace

TEST_CASE("handlers run on the test's thread, one step at a time", "[dispatcher]") {
  auto clock = std::make_shared<testing::VirtualClock>();
  Broker broker{BrokerOptions{.clock = clock}};
  broker.declare_queue("q");
  testing::Dispatcher dispatcher(broker, clock);
  int handled = 0;
  dispatcher.consume("q", [&](Delivery&) { ++handled; });
  auto producer = broker.producer();
  REQUIRE(producer.send("q", "1"));
  REQUIRE(producer.send("q", "2"));
  CHECK(handled == 0);  // nothing runs until the test steps
  CHECK(dispatcher.step());
  CHECK(handled == 1);
  CHECK(dispatcher.run_until_idle() == 1);
  CHECK(handled == 2);
  CHECK_FALSE(dispatcher.step());
}

TEST_CASE("run_for moves virtual time to each retry and delay on the way", "[dispatcher]") {
  auto clock = std::make_shared<testing::VirtualClock>();
  Broker broker{BrokerOptions{.clock = clock}};
  broker.declare_queue("q", QueueOptions{.retry_backoff = Backoff{.initial = 10s}});
  testing::Dispatcher dispatcher(broker, clock);
  const TimePoint start = clock->now();
  std::vector<Duration> attempts_at;
  dispatcher.consume("q", [&](Delivery& d) {
    attempts_at.push_back(clock->now() - start);
    if (d.attempt() < 3) throw std::runtime_error("again");
  });
  auto producer = broker.producer();
  REQUIRE(producer.send("q", "x", SendOptions{.delay = 5s}));
  CHECK(dispatcher.run_for(1h) == 3);
  CHECK(attempts_at == std::vector<Duration>{5s, 15s, 35s});
  CHECK(clock->now() - start == 1h);
}

TEST_CASE("a group member's handler sees each record once and commits it", "[dispatcher]") {
  auto clock = std::make_shared<testing::VirtualClock>();
  Broker broker{BrokerOptions{.clock = clock}};
  broker.declare_topic("events");
  testing::Dispatcher dispatcher(broker, clock);
  std::vector<std::string> seen;
  dispatcher.consume("events", "projector",
                     [&](const Record& r) { seen.emplace_back(r.payload().as_string()); });
  auto producer = broker.producer();
  REQUIRE(producer.send("events", "e1"));
  REQUIRE(producer.send("events", "e2"));
  dispatcher.run_until_idle();
  CHECK(seen == std::vector<std::string>{"e1", "e2"});
}

TEST_CASE("two runs with the same seed produce the same trace", "[dispatcher]") {
  const auto first = run_flow(42);
  const auto second = run_flow(42);
  CHECK(first.first == second.first);
  CHECK(first.second == second.second);
  // 12 orders, 4 of them retried once, 12 audits.
  CHECK(first.first.size() == 28);
  // Other seeds choose other interleavings (at least one of these differs from seed 42).
  bool differs = false;
  for (std::uint64_t seed = 1; seed <= 5 && !differs; ++seed)
    differs = run_flow(seed).first != first.first;
  CHECK(differs);
}
