// Single active consumer, with RabbitMQ's semantics (x-single-active-consumer): "only one
// consumer at a time consumes from the queue, and fails over to another registered consumer
// in case the active one is cancelled or dies" — the next one registered, so messages are
// consumed and processed in order.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

TEST_CASE("with a single active consumer only the first registered consumer receives") {
  ManualBroker t;
  t.broker.declare_queue("orders", {.single_active_consumer = true});
  auto first = t.broker.consumer("orders");
  auto second = t.broker.consumer("orders");
  for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("orders", std::to_string(i)));
  // RabbitMQ: "the other consumers are ignored" while the active one is registered.
  CHECK(second.receive(0s).code() == Errc::timed_out);
  for (int i = 0; i < 3; ++i) {
    auto d = first.receive(0s);
    REQUIRE(d);
    CHECK(text(*d) == std::to_string(i));
    REQUIRE(d->ack());
  }
  CHECK(second.receive(0s).code() == Errc::timed_out);
}

TEST_CASE("when the active consumer closes the next registered takes over - in order") {
  ManualBroker t;
  t.broker.declare_queue("orders", {.single_active_consumer = true});
  std::optional<Consumer> first = t.broker.consumer("orders");
  auto second = t.broker.consumer("orders");
  auto third = t.broker.consumer("orders");
  for (int i = 0; i < 5; ++i) REQUIRE(t.producer.send("orders", std::to_string(i)));
  // The active one acks 0, holds 1 and 2 unacked, then goes away.
  auto zero = first->receive(0s);
  REQUIRE(zero);
  REQUIRE(zero->ack());
  REQUIRE(first->receive(0s));
  REQUIRE(first->receive(0s));
  CHECK(second.receive(0s).code() == Errc::timed_out);
  first.reset();  // closes it: what it held goes back to the queue
  // The second registered is active now (not the third), and meets the messages in order:
  // 1 and 2 (redelivered) first, then 3 and 4.
  CHECK(third.receive(0s).code() == Errc::timed_out);
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) {
    auto d = second.receive(0s);
    REQUIRE(d);
    got.push_back(text(*d));
    REQUIRE(d->ack());
  }
  CHECK(got == std::vector<std::string>{"1", "2", "3", "4"});
}

TEST_CASE("a waiting consumer blocked in receive is woken when it becomes the active one") {
  Broker broker;
  broker.declare_queue("orders", {.single_active_consumer = true});
  auto producer = broker.producer();
  std::optional<Consumer> first = broker.consumer("orders");
  auto second = broker.consumer("orders");
  REQUIRE(producer.send("orders", "only"));
  std::optional<Result<Delivery>> got;
  std::thread waiter([&] { got.emplace(second.receive(20s)); });
  // The waiter cannot take it while `first` is active; then `first` goes.
  auto held = first->receive(0s);
  REQUIRE(held);
  first.reset();
  waiter.join();
  REQUIRE(got.has_value());
  REQUIRE(*got);
  CHECK(text(**got) == "only");
  CHECK((*got)->redelivered());
}

TEST_CASE("single active consumer is part of a queue's options - kept by a durable queue") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("switchyard-sac-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const QueueOptions options{.single_active_consumer = true, .durability = Durability::none};
  {
    Broker broker({.data_dir = dir});
    broker.declare_queue("orders", options);
    CHECK(code_of([&] { broker.declare_queue("orders", {.durability = Durability::none}); }) ==
          Errc::option_mismatch);
  }
  {
    Broker broker({.data_dir = dir});
    CHECK(broker.queue("orders").options().single_active_consumer);
    auto first = broker.consumer("orders");
    auto second = broker.consumer("orders");
    REQUIRE(broker.producer().send("orders", "after restart"));
    CHECK(second.receive(0s).code() == Errc::timed_out);
    auto d = first.receive(1s);
    REQUIRE(d);
    REQUIRE(d->ack());
  }
  std::filesystem::remove_all(dir);
}
