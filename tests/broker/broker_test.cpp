// Broker lifecycle and bad input: every misuse is a typed error naming what was wrong.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

TEST_CASE("declaring a queue twice with the same options is a no-op") {
  Broker broker;
  auto a = broker.declare_queue("jobs", {.capacity = 10});
  auto b = broker.declare_queue("jobs", {.capacity = 10});
  // One queue behind both handles: what is sent to it shows through either.
  REQUIRE(broker.producer().send("jobs", "x"));
  CHECK(a.depth() == 1);
  CHECK(b.depth() == 1);
}

TEST_CASE("re-declaring with different options is an option mismatch") {
  Broker broker;
  broker.declare_queue("jobs", {.capacity = 10});
  CHECK(code_of([&] { broker.declare_queue("jobs", {.capacity = 11}); }) == Errc::option_mismatch);
}

TEST_CASE("bad queue options are invalid arguments naming the queue") {
  Broker broker;
  CHECK(code_of([&] { broker.declare_queue("q", {.capacity = 0}); }) == Errc::invalid_argument);
  CHECK(code_of([&] { broker.declare_queue("q", {.prefetch = 0}); }) == Errc::invalid_argument);
  CHECK(code_of([&] { broker.declare_queue(""); }) == Errc::invalid_argument);
  CHECK(code_of([&] { broker.declare_queue("q", {.dead_letter = "q"}); }) ==
        Errc::invalid_argument);
  try {
    broker.declare_queue("zero", {.capacity = 0});
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("zero") != std::string::npos);
  }
}

TEST_CASE("a dead-letter queue must be declared first") {
  Broker broker;
  CHECK(code_of([&] { broker.declare_queue("jobs", {.dead_letter = "missing"}); }) ==
        Errc::unknown_destination);
}

TEST_CASE("an unknown queue is a typed error for producers and consumers") {
  Broker broker;
  auto producer = broker.producer();
  auto sent = producer.send("nowhere", "x");
  CHECK(sent.code() == Errc::unknown_destination);
  CHECK(sent.message().find("nowhere") != std::string::npos);
  CHECK(code_of([&] { (void)broker.consumer("nowhere"); }) == Errc::unknown_destination);
  CHECK(code_of([&] { (void)broker.queue("nowhere"); }) == Errc::unknown_destination);
  CHECK_THROWS_AS(sent.value(), Error);
}

TEST_CASE("a payload over the queue's limit is refused") {
  Broker broker;
  broker.declare_queue("tiny", {.max_payload = 4});
  auto producer = broker.producer();
  CHECK(producer.send("tiny", "12345").code() == Errc::payload_too_large);
  CHECK(producer.send("tiny", "1234"));
}

TEST_CASE("settling twice - or settling an empty delivery - is a typed error") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  REQUIRE(t.producer.send("jobs", "x"));
  auto c = t.broker.consumer("jobs");
  auto d = c.receive();
  REQUIRE(d);
  CHECK(d->ack());
  CHECK(d->ack().code() == Errc::stale_delivery);
  CHECK(d->nack().code() == Errc::stale_delivery);
  Delivery empty;
  CHECK(empty.ack().code() == Errc::invalid_delivery);
}

TEST_CASE("a delivery taken back by its consumer's close cannot be acked any more") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  REQUIRE(t.producer.send("jobs", "x"));
  auto c = t.broker.consumer("jobs");
  auto d = c.receive();
  REQUIRE(d);
  c.close();
  CHECK(d->ack().code() == Errc::stale_delivery);
  CHECK(c.receive().code() == Errc::closed);
  auto jobs_consumer = t.broker.consumer("jobs");
  CHECK(jobs_consumer.receive()->attempt() == 2);
}

TEST_CASE("receive after shutdown says closed - and so does send") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  auto c = t.broker.consumer("jobs");
  t.broker.shutdown(Shutdown::stop);
  CHECK(c.receive().code() == Errc::closed);
  CHECK(t.producer.send("jobs", "late").code() == Errc::closed);
  CHECK(code_of([&] { t.broker.declare_queue("more"); }) == Errc::closed);
}

TEST_CASE("a draining shutdown lets consumers finish queued work first") {
  Broker broker;
  auto q = broker.declare_queue("jobs");
  auto producer = broker.producer();
  for (int i = 0; i < 50; ++i) REQUIRE(producer.send("jobs", "work"));
  auto c = broker.consumer("jobs", {.workers = 2});
  std::atomic<int> handled{0};
  c.run([&](Delivery&) { handled.fetch_add(1); });
  CHECK(broker.shutdown(Shutdown::drain, std::chrono::seconds(30)));
  CHECK(handled.load() == 50);
  CHECK(q.stats().acked == 50);
  c.stop();
}

TEST_CASE("deleting a queue closes its consumers - if_unused refuses while it has some") {
  Broker broker;
  broker.declare_queue("jobs");
  auto c = broker.consumer("jobs");
  CHECK(code_of([&] { broker.delete_queue("jobs", {.if_unused = true}); }) == Errc::in_use);
  broker.delete_queue("jobs");
  CHECK_FALSE(broker.contains("jobs"));
  CHECK(c.receive().code() == Errc::closed);
  CHECK(broker.producer().send("jobs", "x").code() == Errc::unknown_destination);
  CHECK(code_of([&] { broker.delete_queue("jobs"); }) == Errc::unknown_destination);
}

TEST_CASE("a producer notices a queue deleted and declared again") {
  Broker broker;
  broker.declare_queue("jobs");
  auto producer = broker.producer();
  REQUIRE(producer.send("jobs", "old"));
  broker.delete_queue("jobs");
  broker.declare_queue("jobs");
  REQUIRE(producer.send("jobs", "new"));
  auto jobs_consumer = broker.consumer("jobs");
  auto d = jobs_consumer.receive();
  REQUIRE(d);
  CHECK(text(*d) == "new");
}

TEST_CASE("a copied or moved producer never sends an id the original also sends") {
  Broker broker;
  broker.declare_queue("jobs");
  auto original = broker.producer();
  auto first = original.send("jobs", "before the copy");  // the original holds a block now
  REQUIRE(first);
  Producer copy = original;  // one per thread is how producers are shared
  Producer assigned = broker.producer();
  REQUIRE(assigned.send("jobs", "own block"));
  assigned = original;
  std::set<MessageId> ids{*first};
  for (Producer* p : {&original, &copy, &assigned}) {
    for (int i = 0; i < 3; ++i) {
      auto id = p->send("jobs", "x");
      REQUIRE(id);
      CHECK(ids.insert(*id).second);
    }
  }
  Producer moved = std::move(original);
  auto id = moved.send("jobs", "after the move");
  REQUIRE(id);
  CHECK(ids.insert(*id).second);
}

TEST_CASE("the manual clock's wall time jumps without moving timeouts") {
  ManualBroker t;
  t.broker.declare_queue("later");
  REQUIRE(t.producer.send("later", "x", {.delay = 10s}));
  t.clock->jump_wall(-std::chrono::hours(24));
  t.clock->jump_wall(std::chrono::hours(48));
  auto c = t.broker.consumer("later");
  CHECK(c.receive().code() == Errc::timed_out);
  t.clock->advance(10s);
  CHECK(c.receive());
}

TEST_CASE("deleting a queue removes its topic subscriptions") {
  Broker broker;
  broker.declare_topic("orders");
  broker.declare_queue("billing");
  broker.subscribe_queue("orders", "billing");
  CHECK(broker.topic("orders").stats().subscriptions == 1);
  broker.delete_queue("billing");
  CHECK(broker.topic("orders").stats().subscriptions == 0);
  CHECK(broker.producer().send("orders", "x"));
  CHECK(broker.topic("orders").stats().fan_out_failed == 0);
}

TEST_CASE("destinations lists every queue topic and exchange with its kind - sorted by name") {
  Broker broker;
  CHECK(broker.destinations().empty());
  broker.declare_queue("orders");
  broker.declare_topic("events");
  broker.declare_exchange("routing", ExchangeType::direct);
  const std::vector<DestinationInfo> expected{{"events", DestinationKind::topic},
                                              {"orders", DestinationKind::queue},
                                              {"routing", DestinationKind::exchange}};
  CHECK(broker.destinations() == expected);
  CHECK(std::string(to_string(DestinationKind::exchange)) == "exchange");
  broker.delete_queue("orders");
  CHECK(broker.destinations().size() == 2);
}
