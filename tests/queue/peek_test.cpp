// Queue::peek: a queue's ready, delayed and in-flight messages without taking them — what
// RabbitMQ's management UI lists and what Redis's XPENDING reports for pending entries ("the
// ID of the message, the name of the consumer, the number of milliseconds that elapsed since
// the last time this message was delivered [here: age since send], the number of times this
// message was delivered").
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

TEST_CASE("peek lists ready, delayed and in-flight messages with id, attempt, age and holder") {
  ManualBroker m;
  m.broker.declare_queue("q", {.visibility_timeout = 30s});
  auto first = m.producer.send("q", "first");
  REQUIRE(first);
  REQUIRE(m.producer.send("q", "second"));
  REQUIRE(m.producer.send("q", "later", {.delay = 1min}));
  m.clock->advance(5s);
  auto consumer = m.broker.consumer("q", {.tag = "worker-1"});
  auto held = consumer.receive(0s);
  REQUIRE(held);
  m.clock->advance(2s);

  const auto peeked = m.broker.queue("q").peek();
  REQUIRE(peeked.size() == 3);
  CHECK(peeked[0].state == MessageState::ready);
  CHECK(peeked[0].message.payload().as_string() == "second");
  CHECK(peeked[0].attempt == 0);
  CHECK(peeked[0].age == 7s);
  CHECK(peeked[1].state == MessageState::delayed);
  CHECK(peeked[1].message.payload().as_string() == "later");
  CHECK(peeked[1].visible_at == peeked[0].visible_at - 7s + 1min);
  CHECK(peeked[2].state == MessageState::in_flight);
  CHECK(peeked[2].id == held->id());
  CHECK(peeked[2].holder == "worker-1");
  CHECK(peeked[2].attempt == 1);
  CHECK(peeked[2].age == 7s);
  CHECK(peeked[2].visible_at == peeked[0].visible_at - 2s + 30s);  // the lease: received + 30 s
  CHECK(consumer.tag() == "worker-1");
}

TEST_CASE("peek takes nothing: the same messages are delivered afterwards, in FIFO order") {
  Broker broker;
  broker.declare_queue("q", {.capacity = 10'000});
  auto producer = broker.producer();
  for (int i = 0; i < 5000; ++i) REQUIRE(producer.send("q", std::to_string(i)));  // ring + spill
  CHECK(broker.queue("q").peek(10).size() == 10);
  for (int i = 5000; i < 5010; ++i) REQUIRE(producer.send("q", std::to_string(i)));
  const auto all = broker.queue("q").peek(100'000);
  REQUIRE(all.size() == 5010);
  CHECK(broker.queue("q").depth() == 5010);
  auto consumer = broker.consumer("q", {.prefetch = 64});
  std::vector<Delivery> batch;
  batch.reserve(64);
  for (int i = 0; i < 5010;) {
    batch.clear();
    auto got = consumer.receive(batch, 64, 1s);
    REQUIRE(got);
    for (auto& d : batch) {
      REQUIRE(text(d) == std::to_string(i++));  // order kept across the peek
      REQUIRE(d.attempt() == 1);
    }
    REQUIRE(consumer.ack_all(batch));
  }
}

TEST_CASE("an in-flight delivery's peek shows a consumer-made tag and no message") {
  Broker broker;
  broker.declare_queue("q");
  auto producer = broker.producer();
  REQUIRE(producer.send("q", "x"));
  auto consumer = broker.consumer("q");
  auto held = consumer.receive(1s);
  REQUIRE(held);
  const auto peeked = broker.queue("q").peek();
  REQUIRE(peeked.size() == 1);
  CHECK(peeked[0].holder == consumer.tag());
  CHECK(consumer.tag().starts_with("consumer-"));
  CHECK_FALSE(peeked[0].message);
}

TEST_CASE("drop_oldest after a peek drops the oldest message, not the ring's head") {
  Broker broker;
  broker.declare_queue("q", {.capacity = 3, .overflow = Overflow::drop_oldest});
  auto producer = broker.producer();
  REQUIRE(producer.send("q", "1"));
  REQUIRE(producer.send("q", "2"));
  (void)broker.queue("q").peek();  // 1 and 2 move behind the lock
  REQUIRE(producer.send("q", "3"));
  REQUIRE(producer.send("q", "4"));  // full: "1" goes
  auto consumer = broker.consumer("q");
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    auto d = consumer.receive(1s);
    REQUIRE(d);
    got.push_back(text(*d));
    REQUIRE(d->ack());
  }
  CHECK(got == std::vector<std::string>{"2", "3", "4"});
}

TEST_CASE("peek while consumers receive and settle sees only whole, consistent entries") {
  Broker broker;
  broker.declare_queue("q", {.capacity = 100'000});
  auto producer = broker.producer();
  constexpr int kMessages = 20'000;
  std::set<MessageId> ids;
  for (int i = 0; i < kMessages; ++i) {
    auto sent = producer.send("q", "m");
    REQUIRE(sent);
    ids.insert(*sent);
  }
  std::atomic<int> acked{0};
  auto consumer = broker.consumer("q", {.workers = 2});
  consumer.run([&](Delivery&) { acked.fetch_add(1, std::memory_order_relaxed); });
  int peeks = 0;
  while (acked.load(std::memory_order_relaxed) < kMessages && peeks < 10'000) {
    for (const auto& p : broker.queue("q").peek(50)) {
      REQUIRE(ids.contains(p.id));
      if (p.state == MessageState::in_flight) REQUIRE(p.attempt == 1);
    }
    ++peeks;
  }
  REQUIRE(eventually([&] { return acked.load() == kMessages; }));
  consumer.close();
  CHECK(broker.queue("q").stats().acked == kMessages);
}

// A durable queue's journal keeps every message with its id and its recorded deliveries: after
// a restart "exactly the unacknowledged messages come back, with their attempt counts"
// (README, Persistence). What a peek lists after the reopen is what it listed before, a held
// message turned ready with the attempt it had.
TEST_CASE("after a durable queue's restart peek lists the same ready messages with ids, attempts "
          "and ages") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  const QueueOptions options{.visibility_timeout = 30s, .durability = Durability::none};
  std::vector<PeekedMessage> before;
  MessageId held_id = 0;
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("q", options);
    auto producer = broker.producer();
    for (const char* payload : {"held", "nacked", "ready"}) REQUIRE(producer.send("q", payload));
    REQUIRE(producer.send("q", "later", {.delay = 1min}));
    clock->advance(5s);
    auto consumer = broker.consumer("q");
    auto held = consumer.receive(0s);
    REQUIRE(held);
    held_id = held->id();
    auto nacked = consumer.receive(0s);
    REQUIRE(nacked);
    REQUIRE(nacked->nack());  // back to ready, attempt 1 recorded
    before = broker.queue("q").peek();
    REQUIRE(before.size() == 4);
  }
  Broker broker({.clock = clock, .data_dir = dir.path()});
  const auto after = broker.queue("q").peek();
  REQUIRE(after.size() == 4);
  for (const PeekedMessage& was : before) {
    INFO("message id " << was.id);
    auto it = std::find_if(after.begin(), after.end(),
                           [&](const PeekedMessage& p) { return p.id == was.id; });
    REQUIRE(it != after.end());
    CHECK(it->age == was.age);  // since its send, by the broker's clock: kept with the message
    if (was.id == held_id) {
      // Held at the restart: ready again, its one delivery counted.
      CHECK(was.state == MessageState::in_flight);
      CHECK(it->state == MessageState::ready);
      CHECK(it->attempt == 1);
      CHECK(it->message.payload().as_string() == "held");
      continue;
    }
    CHECK(it->state == was.state);
    CHECK(it->attempt == was.attempt);
    CHECK(it->message.payload().as_string() == was.message.payload().as_string());
    if (was.state == MessageState::delayed) CHECK(it->visible_at == was.visible_at);
    if (it->message.payload().as_string() == "nacked") CHECK(it->attempt == 1);
  }
}
