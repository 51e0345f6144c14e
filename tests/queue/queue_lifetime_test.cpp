// Queues with a lifetime, with RabbitMQ's semantics: exclusive queues (only their declaring
// connection — here, the declaring handle — may consume them; RESOURCE_LOCKED for others;
// deleted when that owner goes), auto-delete queues ("deleted when its last consumer is
// cancelled", once it had one) and x-expires ("deleted if unused for that long: no consumers,
// not re-declared"). A deleted queue's messages are discarded, not dead-lettered (RabbitMQ drops
// them too).
#include <catch2/catch.hpp>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

TEST_CASE("an exclusive queue is consumed only through its declaring handle - others get locked") {
  Broker broker;
  auto owner = broker.declare_queue("mine", {.exclusive = true});
  CHECK(owner.owner());
  CHECK(code_of([&] { (void)broker.consumer("mine"); }) == Errc::locked);
  const auto other = broker.queue("mine");  // a handle for reading, not the owner
  CHECK_FALSE(other.owner());
  CHECK(code_of([&] { (void)broker.consumer(other); }) == Errc::locked);

  // Anyone may send to it (RabbitMQ: any connection may publish to an exclusive queue).
  auto producer = broker.producer();
  REQUIRE(producer.send("mine", "hello"));
  auto consumer = broker.consumer(owner);
  auto got = consumer.receive(1s);
  REQUIRE(got);
  CHECK(text(*got) == "hello");
  REQUIRE(got->ack());
}

TEST_CASE("an exclusive queue cannot be re-declared or deleted by name (RESOURCE_LOCKED)") {
  Broker broker;
  auto owner = broker.declare_queue("mine", {.exclusive = true});
  CHECK(code_of([&] { broker.declare_queue("mine", {.exclusive = true}); }) == Errc::locked);
  CHECK(code_of([&] { broker.declare_queue("mine"); }) == Errc::locked);
  CHECK(code_of([&] { broker.delete_queue("mine"); }) == Errc::locked);
  CHECK(broker.contains("mine"));
}

TEST_CASE("an exclusive queue cannot be durable: RabbitMQ's exclusive queues are transient") {
  Broker broker;
  CHECK(code_of([&] {
          broker.declare_queue("mine", {.durability = Durability::always, .exclusive = true});
        }) == Errc::invalid_argument);
  CHECK(code_of([&] {
          broker.declare_queue("gone", {.durability = Durability::always, .auto_delete = true});
        }) == Errc::invalid_argument);
  CHECK(code_of([&] { broker.declare_queue("late", {.expires = -1s}); }) == Errc::invalid_argument);
}

TEST_CASE("an exclusive queue is deleted when its owner handles and their consumers are gone") {
  Broker broker;
  auto producer = broker.producer();
  std::optional<Consumer> consumer;
  {
    auto owner = broker.declare_queue("mine", {.exclusive = true});
    auto copy = owner;
    consumer = broker.consumer(copy);
    REQUIRE(producer.send("mine", "kept while the consumer lives"));
  }
  // The handles are gone, but the consumer made from them keeps the owner alive.
  CHECK(broker.contains("mine"));
  consumer.reset();
  CHECK_FALSE(broker.contains("mine"));
  CHECK(producer.send("mine", "x").code() == Errc::unknown_destination);
}

TEST_CASE("an auto-delete queue is deleted when its last consumer closes, not before") {
  Broker broker;
  auto queue = broker.declare_queue("work", {.auto_delete = true});
  auto producer = broker.producer();
  REQUIRE(producer.send("work", "left behind"));
  auto first = broker.consumer("work");
  auto second = broker.consumer("work");
  first.close();
  CHECK(broker.contains("work"));  // one consumer left
  second.close();
  CHECK_FALSE(broker.contains("work"));
  CHECK(queue.closed());
  CHECK(producer.send("work", "x").code() == Errc::unknown_destination);
}

TEST_CASE("an auto-delete queue that never had a consumer stays") {
  Broker broker;
  broker.declare_queue("work", {.auto_delete = true});
  auto producer = broker.producer();
  REQUIRE(producer.send("work", "waiting"));
  CHECK(broker.contains("work"));
  CHECK(broker.queue("work").depth() == 1);
}

TEST_CASE("a queue that deletes itself drops its messages: none is dead-lettered") {
  Broker broker;
  auto dead = broker.declare_queue("dead");
  broker.declare_queue("work", {.dead_letter = "dead", .auto_delete = true});
  auto producer = broker.producer();
  for (int i = 0; i < 3; ++i) REQUIRE(producer.send("work", "m"));
  {
    auto consumer = broker.consumer("work");
    auto held = consumer.receive(1s);  // one in flight, two ready: all three are dropped
    REQUIRE(held);
  }
  CHECK_FALSE(broker.contains("work"));
  CHECK(dead.depth() == 0);
}

TEST_CASE("an auto-delete queue's deletion removes its bindings") {
  Broker broker;
  auto exchange = broker.declare_exchange("events", ExchangeType::fanout);
  broker.declare_queue("tap", {.auto_delete = true});
  broker.bind("events", "tap");
  CHECK(exchange.stats().bindings == 1);
  broker.consumer("tap").close();
  CHECK_FALSE(broker.contains("tap"));
  CHECK(exchange.stats().bindings == 0);
}

TEST_CASE("a queue with x-expires is deleted once unused that long by the broker's clock") {
  ManualBroker m;
  m.broker.declare_queue("slow", {.expires = 10s});
  m.broker.declare_queue("fast", {.expires = 5s});
  REQUIRE(m.producer.send("slow", "sends do not count as use"));
  m.clock->advance(6s);
  // The expiry thread deleted "fast" at a time past 6 s, and so had looked at "slow" then too.
  REQUIRE(eventually([&] { return !m.broker.contains("fast"); }));
  CHECK(m.broker.contains("slow"));
  m.clock->advance(4s);
  REQUIRE(eventually([&] { return !m.broker.contains("slow"); }));
}

TEST_CASE("x-expires counts from the last consumer's close, and a re-declare starts it over") {
  ManualBroker m;
  m.broker.declare_queue("watched", {.expires = 10s});
  {
    auto consumer = m.broker.consumer("watched");
    m.clock->advance(1h);  // a queue with a consumer is in use
    m.broker.declare_queue("probe", {.expires = 1s});
    m.clock->advance(2s);
    REQUIRE(eventually([&] { return !m.broker.contains("probe"); }));
    CHECK(m.broker.contains("watched"));
  }
  m.clock->advance(8s);
  m.broker.declare_queue("watched", {.expires = 10s});  // RabbitMQ: a re-declare is a use
  m.clock->advance(8s);
  m.broker.declare_queue("probe", {.expires = 1s});
  m.clock->advance(1s);
  REQUIRE(eventually([&] { return !m.broker.contains("probe"); }));
  CHECK(m.broker.contains("watched"));  // 9 s since the re-declare
  m.clock->advance(1s);
  REQUIRE(eventually([&] { return !m.broker.contains("watched"); }));
}
