// Order events with an inventory group: a test of the flow in examples/order_events.cpp, as a
// user would write it with the test kit. Handlers run on the test's thread (Dispatcher), time is
// virtual, and the recorder shows what happened.
#include <catch2/catch.hpp>
#include <switchyard/switchyard.hpp>
#include <switchyard/testing.hpp>
#include <switchyard/testing/catch.hpp>

#include <map>
#include <string>

using namespace switchyard;
using namespace std::chrono_literals;

TEST_CASE("the inventory group reserves on OrderCreated and releases on OrderCancelled") {
  auto clock = std::make_shared<testing::VirtualClock>();
  auto recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker({.clock = clock, .interceptors = {recorder}});
  broker.declare_topic("order-events", {.partitions = 4});
  testing::Dispatcher dispatcher(broker, clock, {.seed = 1});

  std::map<std::string, int> reserved;  // order id -> units held
  auto inventory = [&](const Record& event) {
    const std::string order(event.key());
    if (event.headers().get("type") == "OrderCreated") reserved[order] += 1;
    if (event.headers().get("type") == "OrderCancelled") reserved[order] -= 1;
  };
  dispatcher.consume("order-events", "inventory", inventory);
  dispatcher.consume("order-events", "inventory", inventory);  // two members share partitions

  auto producer = broker.producer();
  for (const char* order : {"o-1", "o-2", "o-3"}) {
    REQUIRE(
        producer.send("order-events", "{}", {.key = order, .headers = {{"type", "OrderCreated"}}}));
  }
  REQUIRE(
      producer.send("order-events", "{}", {.key = "o-2", .headers = {{"type", "OrderCancelled"}}}));
  dispatcher.run_until_idle();

  CHECK(reserved == std::map<std::string, int>{{"o-1", 1}, {"o-2", 0}, {"o-3", 1}});
  CHECK(recorder->count(testing::EventKind::polled, "order-events") == 4);
  CHECK_THAT(*recorder, testing::Sent("order-events", 4));
}
