// Queues with a lifetime, with RabbitMQ's semantics: exclusive queues (only their declaring
// connection — here, the declaring handle — may consume them; RESOURCE_LOCKED for others;
// deleted when that owner goes), auto-delete queues ("deleted when its last consumer is
// cancelled", once it had one) and x-expires ("deleted if unused for that long: no consumers,
// not re-declared"). A deleted queue's messages are discarded, not dead-lettered (RabbitMQ drops
// them too).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "broker/storage_context.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {


/// Whether durable queue `name` has a directory under `data_dir` (Broker::delete_queue
/// removes it).
bool stored(const std::filesystem::path& data_dir, std::string_view name) {
  return std::filesystem::exists(
      detail::StorageContext::storage_dir(data_dir, detail::DestinationKind::queue, name));
}

}  // namespace

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
  ScratchDir dir;
  Broker broker({.data_dir = dir.path()});
  CHECK(code_of([&] {
          broker.declare_queue("mine", {.durability = Durability::always, .exclusive = true});
        }) == Errc::invalid_argument);
  CHECK_FALSE(broker.contains("mine"));
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

// --- durable queues with a lifetime ---------------------------------------------------------
// RabbitMQ recovers a durable auto-delete queue on restart with its messages; it is deleted once
// a consumer of the new run has come and gone ("deleted when its last consumer is cancelled",
// and a queue that never had a consumer stays). A durable queue with x-expires: "the lease is
// renewed on restart" — its unused time starts again at the reopen.

TEST_CASE("a durable auto-delete queue survives a restart with its messages and options") {
  ScratchDir dir;
  const QueueOptions options{.durability = Durability::none, .auto_delete = true};
  std::optional<Consumer> open_at_shutdown;
  std::optional<Producer> producer;  // keeps the shut-down broker's registry alive
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("work", options);
    producer = broker.producer();
    REQUIRE(producer->send("work", "first"));
    REQUIRE(producer->send("work", "second"));
    // A consumer still open when the broker shuts down: its close afterwards is not the
    // queue's last consumer cancelled, the broker's shutdown deletes nothing.
    open_at_shutdown = broker.consumer("work");
  }
  open_at_shutdown.reset();
  producer.reset();
  {
    Broker broker({.data_dir = dir.path()});
    REQUIRE(broker.contains("work"));
    CHECK(broker.queue("work").options().auto_delete);
    CHECK(broker.queue("work").depth() == 2);
    CHECK_NOTHROW(broker.declare_queue("work", options));  // the same options as stored
    CHECK(code_of([&] {
            broker.declare_queue("work", {.durability = Durability::none});
          }) == Errc::option_mismatch);
  }
  // Reopened without a consumer of its own, it stays (RabbitMQ: never had a consumer).
  Broker broker({.data_dir = dir.path()});
  REQUIRE(broker.contains("work"));
  CHECK(broker.queue("work").depth() == 2);
}

TEST_CASE("a durable auto-delete queue is deleted on disk when its last consumer after a restart "
          "closes - it does not come back") {
  ScratchDir dir;
  const QueueOptions options{.durability = Durability::none, .auto_delete = true};
  {
    Broker broker({.data_dir = dir.path()});
    auto exchange = broker.declare_exchange("events", ExchangeType::fanout);
    broker.declare_queue("work", options);
    broker.bind("events", "work");
    REQUIRE(broker.producer().send("work", "left behind"));
  }
  {
    Broker broker({.data_dir = dir.path()});
    REQUIRE(broker.contains("work"));
    REQUIRE(stored(dir.path(), "work"));
    {
      auto consumer = broker.consumer("work");
      auto got = consumer.receive(0s);
      REQUIRE(got);
      CHECK(text(*got) == "left behind");
      CHECK(broker.contains("work"));  // in use
    }
    CHECK_FALSE(broker.contains("work"));
    CHECK(broker.exchange("events").stats().bindings == 0);
    CHECK_FALSE(stored(dir.path(), "work"));  // as Broker::delete_queue removes it
  }
  Broker broker({.data_dir = dir.path()});
  CHECK_FALSE(broker.contains("work"));
  CHECK(broker.contains("events"));
  broker.declare_queue("work", options);  // a new queue of that name starts empty
  CHECK(broker.queue("work").depth() == 0);
}

TEST_CASE("a durable queue with x-expires keeps it over a restart - the lease is renewed on "
          "restart - and once expired it is gone from disk") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  const QueueOptions options{.durability = Durability::none, .expires = 10s};
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("lease", options);
    REQUIRE(broker.producer().send("lease", "kept"));
    clock->advance(8s);
  }
  clock->advance(1h);  // time passes while the broker is down: it does not count
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    REQUIRE(broker.contains("lease"));
    CHECK(broker.queue("lease").options().expires == 10s);
    CHECK(broker.queue("lease").depth() == 1);
    clock->advance(9s);
    // A probe that expires now: once it is gone, the expiry thread has looked at "lease"
    // 9 s after the reopen and kept it.
    broker.declare_queue("probe", {.expires = 1ns});
    clock->advance(1ns);
    REQUIRE(eventually([&] { return !broker.contains("probe"); }));
    CHECK(broker.contains("lease"));
    clock->advance(1s);
    REQUIRE(eventually([&] { return !broker.contains("lease"); }));
    REQUIRE(eventually([&] { return !stored(dir.path(), "lease"); }));
  }
  Broker broker({.clock = clock, .data_dir = dir.path()});
  CHECK_FALSE(broker.contains("lease"));
}
