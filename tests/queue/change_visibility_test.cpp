// Delivery::change_visibility, SQS's ChangeMessageVisibility. SQS's rules, from its API
// reference, quoted where a test pins one:
//   "Changes the visibility timeout of a specified message in a queue to a new value ... the
//    new timeout ... begin[s] to count from the time that you make the ChangeMessageVisibility
//    call."
//   "[Setting] VisibilityTimeout to 0 ... the message is immediately visible to other consumers"
//   "The maximum is 12 hours" and "If you try to extend the visibility timeout beyond the
//    maximum, your request is rejected."
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

TEST_CASE("change_visibility(0) makes a held message visible at once, as attempt 2") {
  ManualBroker m;
  m.broker.declare_queue("q", {.visibility_timeout = 30s});
  REQUIRE(m.producer.send("q", "x"));
  auto a = m.broker.consumer("q");
  auto b = m.broker.consumer("q");
  auto held = a.receive(0s);
  REQUIRE(held);
  CHECK(b.receive(0s).code() == Errc::timed_out);
  REQUIRE(held->change_visibility(0s));  // "immediately visible to other consumers"
  auto again = b.receive(0s);
  REQUIRE(again);
  CHECK(again->attempt() == 2);
  CHECK(held->ack().code() == Errc::stale_delivery);
  REQUIRE(again->ack());
}

TEST_CASE("change_visibility counts the new timeout from the call, shorter or longer") {
  ManualBroker m;
  m.broker.declare_queue("q", {.visibility_timeout = 30s});
  REQUIRE(m.producer.send("q", "x"));
  auto consumer = m.broker.consumer("q");
  auto held = consumer.receive(0s);
  REQUIRE(held);
  m.clock->advance(20s);
  REQUIRE(held->change_visibility(5s));  // "begins to count from the time of the call"
  m.clock->advance(4s);
  CHECK(consumer.receive(0s).code() == Errc::timed_out);
  m.clock->advance(1s);
  auto back = consumer.receive(0s);  // 25 s after the receive: before the queue's 30 s
  REQUIRE(back);
  CHECK(back->attempt() == 2);

  REQUIRE(back->change_visibility(2h));  // longer than the queue's timeout
  m.clock->advance(1h);
  CHECK(consumer.receive(0s).code() == Errc::timed_out);
  REQUIRE(back->ack());
}

TEST_CASE("change_visibility works on a queue without a visibility timeout (RabbitMQ mode)") {
  ManualBroker m;
  m.broker.declare_queue("q", {.visibility_timeout = 0s});
  REQUIRE(m.producer.send("q", "x"));
  auto consumer = m.broker.consumer("q");
  auto held = consumer.receive(0s);
  REQUIRE(held);
  REQUIRE(held->change_visibility(10s));
  m.clock->advance(10s);
  auto back = consumer.receive(0s);
  REQUIRE(back);
  CHECK(back->attempt() == 2);
}

TEST_CASE("change_visibility is bounded by 12 hours from the receive, and a negative one is refused") {
  ManualBroker m;
  m.broker.declare_queue("q");
  REQUIRE(m.producer.send("q", "x"));
  auto consumer = m.broker.consumer("q");
  auto held = consumer.receive(0s);
  REQUIRE(held);
  REQUIRE(held->change_visibility(12h));
  m.clock->advance(1h);
  // "If you try to extend the visibility timeout beyond the maximum, your request is rejected."
  CHECK(held->change_visibility(12h).code() == Errc::invalid_argument);
  REQUIRE(held->change_visibility(11h));
  CHECK(held->change_visibility(-1s).code() == Errc::invalid_argument);
  REQUIRE(held->ack());
  CHECK(held->change_visibility(1s).code() == Errc::stale_delivery);
}

// A durable queue journals each delivery with its attempt, not its lease: after a restart
// "exactly the unacknowledged messages come back, with their attempt counts" (README,
// Persistence) — ready at once, whatever visibility a change_visibility gave the delivery before.
// (SQS keeps a lease across its own failures; switchyard's restart is the broker's end, and its
// rule for every in-flight message is the one pinned here.)
TEST_CASE("a delivery whose visibility was changed comes back at once after a restart - as "
          "attempt 2 - and its old handle cannot settle it") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  const QueueOptions options{.visibility_timeout = 30s, .durability = Durability::always};
  // Outlive the broker: held when it shuts down, as a crash would leave them.
  std::optional<Consumer> consumer;
  std::optional<Delivery> held;
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("q", options);
    REQUIRE(broker.producer().send("q", "x"));
    consumer = broker.consumer("q");
    auto got = consumer->receive(0s);
    REQUIRE(got);
    held = std::move(*got);
    REQUIRE(held->change_visibility(2h));
    clock->advance(1min);  // past the queue's own 30 s, well inside the 2 h
    CHECK(consumer->receive(0s).code() == Errc::timed_out);
  }
  Broker broker({.clock = clock, .data_dir = dir.path()});
  auto fresh = broker.consumer("q");
  auto back = fresh.receive(0s);  // no time passes: the 2 h lease did not survive
  REQUIRE(back);
  CHECK(text(*back) == "x");
  CHECK(back->id() == held->id());
  CHECK(back->attempt() == 2);
  // The handle from before the restart belongs to the closed broker's queue: it settles nothing
  // in the reopened one.
  CHECK_FALSE(held->ack());
  CHECK_FALSE(held->change_visibility(1h));
  REQUIRE(back->nack());
  auto again = fresh.receive(0s);
  REQUIRE(again);
  CHECK(again->attempt() == 3);
  REQUIRE(again->ack());
  CHECK(broker.queue("q").depth() == 0);
}
