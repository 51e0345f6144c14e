// SQS-style delay, long poll and visibility timeout, and SNS fan-out with a filter, in virtual
// time: a test waits 15 minutes of delay and 30 seconds of visibility in no real time.
#include <catch2/catch.hpp>
#include <switchyard/switchyard.hpp>
#include <switchyard/testing.hpp>
#include <switchyard/testing/catch.hpp>

using namespace switchyard;
using namespace std::chrono_literals;

TEST_CASE(
    "a delayed message arrives by long poll when its delay ends, and comes back if not "
    "deleted within the visibility timeout") {
  auto clock = std::make_shared<testing::VirtualClock>();
  auto recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker({.clock = clock, .interceptors = {recorder}});
  broker.declare_queue("jobs", {.visibility_timeout = 30s});
  auto producer = broker.producer();
  const TimePoint start = clock->now();
  REQUIRE(producer.send("jobs", "resize", {.delay = 15min}));  // SQS DelaySeconds

  auto worker = broker.consumer("jobs");
  auto first = worker.receive(20min);  // long poll
  REQUIRE(first);
  CHECK(clock->now() - start == 15min);
  // Not deleted (acked): after the visibility timeout it is received again.
  auto second = worker.receive(1min);
  REQUIRE(second);
  CHECK(second->attempt() == 2);
  CHECK(clock->now() - start == 15min + 30s);
  REQUIRE(second->ack());
  CHECK(recorder->events(testing::EventKind::redelivered, "jobs").size() == 1);
}

TEST_CASE("an SNS-style topic fans out to queues, one of them behind a filter") {
  auto clock = std::make_shared<testing::VirtualClock>();
  auto recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker({.clock = clock, .interceptors = {recorder}});
  broker.declare_topic("order-events");
  broker.declare_queue("billing");
  broker.declare_queue("big-orders");
  broker.subscribe_queue("order-events", "billing");
  broker.subscribe_queue("order-events", "big-orders", {{"size", "big"}});
  auto producer = broker.producer();
  REQUIRE(producer.send("order-events", "o-1", {.headers = {{"size", "small"}}}));
  REQUIRE(producer.send("order-events", "o-2", {.headers = {{"size", "big"}}}));

  auto billing = broker.consumer("billing");
  auto big = broker.consumer("big-orders");
  for (int i = 0; i < 2; ++i) {
    auto d = billing.receive(1s);
    REQUIRE(d);
    REQUIRE(d->ack());
  }
  auto d = big.receive(1s);
  REQUIRE(d);
  CHECK(d->message().payload().as_string() == "o-2");
  REQUIRE(d->ack());
  CHECK(big.receive(5s).code() == Errc::timed_out);  // o-1 was filtered out: 5 virtual seconds
  CHECK_THAT(*recorder, testing::Consumed("billing", 2));
}
