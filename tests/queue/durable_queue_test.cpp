// Durable queues and the broker's catalog: what was accepted survives a restart, what was
// acknowledged does not come back, attempt counts are kept.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "durable/queue_journal.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {


const QueueOptions kDurable{.visibility_timeout = std::chrono::seconds(0),
                            .durability = Durability::none};

}  // namespace

TEST_CASE("a durable queue needs a broker with a data directory") {
  Broker broker;
  CHECK(code_of([&] { broker.declare_queue("jobs", kDurable); }) == Errc::invalid_argument);
}

TEST_CASE("accepted messages survive a restart - acked ones never come back - attempts are kept") {
  ScratchDir dir;
  std::vector<MessageId> ids;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", kDurable);
    auto producer = broker.producer();
    for (int i = 0; i < 5; ++i) {
      auto id = producer.send("jobs", "job-" + std::to_string(i),
                              {.key = "k", .headers = {{"n", std::to_string(i)}}, .priority = 0});
      REQUIRE(id);
      ids.push_back(*id);
    }
    auto c = broker.consumer("jobs");
    REQUIRE(c.receive()->ack());  // job-0
    REQUIRE(c.receive()->ack());  // job-1
    auto held = c.receive();      // job-2: delivered, never settled
    REQUIRE(held);
    CHECK(held->attempt() == 1);
    // The broker goes away with job-2 in flight (a crash would do the same).
  }
  Broker broker({.data_dir = dir.path()});
  REQUIRE(broker.contains("jobs"));  // re-declared from the catalog
  auto c = broker.consumer("jobs");
  auto batch = c.receive(10, std::chrono::seconds(0));
  REQUIRE(batch);
  REQUIRE(batch->size() == 3);
  CHECK(text((*batch)[0]) == "job-2");
  CHECK((*batch)[0].attempt() == 2);  // delivered once before the restart
  CHECK((*batch)[0].id() == ids[2]);
  CHECK((*batch)[0].headers().get("n") == "2");
  CHECK((*batch)[0].message().key() == "k");
  CHECK(text((*batch)[1]) == "job-3");
  CHECK((*batch)[1].attempt() == 1);
  CHECK(text((*batch)[2]) == "job-4");
  // New ids continue above the recovered ones.
  auto fresh = broker.producer().send("jobs", "new");
  REQUIRE(fresh);
  CHECK(*fresh > ids.back());
}

TEST_CASE("the catalog brings back durable queues - exchanges and bindings - not transient ones") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("failed", kDurable);
    QueueOptions jobs = kDurable;
    jobs.max_deliveries = 1;
    jobs.dead_letter = "failed";
    broker.declare_queue("jobs", jobs);
    broker.declare_queue("scratch");  // in memory only
    broker.declare_exchange("events", ExchangeType::topic);
    broker.bind("events", "jobs", "order.*");
    broker.bind("events", "scratch", "#");
  }
  Broker broker({.data_dir = dir.path()});
  CHECK(broker.contains("jobs"));
  CHECK(broker.contains("failed"));
  CHECK(broker.contains("events"));
  CHECK_FALSE(broker.contains("scratch"));
  CHECK(broker.exchange("events").stats().bindings == 1);
  CHECK(broker.queue("jobs").options().dead_letter == "failed");
  auto producer = broker.producer();
  REQUIRE(producer.publish("events", "order.created", "o-1"));
  auto c = broker.consumer("jobs");
  REQUIRE(c.receive()->nack());  // max_deliveries 1: to the dead-letter queue
  auto failed_consumer = broker.consumer("failed");
  auto dead = failed_consumer.receive();
  REQUIRE(dead);
  CHECK(text(*dead) == "o-1");
  CHECK(dead->headers().get(headers::death_reason) == "max_deliveries");
}

TEST_CASE("a dead letter moved between durable queues survives a restart exactly once") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("failed", kDurable);
    QueueOptions jobs = kDurable;
    jobs.dead_letter = "failed";
    broker.declare_queue("jobs", jobs);
    REQUIRE(broker.producer().send("jobs", "poison"));
    auto c = broker.consumer("jobs");
    REQUIRE(c.receive()->reject("bad input"));
  }
  Broker broker({.data_dir = dir.path()});
  CHECK(broker.queue("jobs").depth() == 0);
  CHECK(broker.queue("failed").depth() == 1);
  auto failed_consumer = broker.consumer("failed");
  auto dead = failed_consumer.receive();
  REQUIRE(dead);
  CHECK(text(*dead) == "poison");
  CHECK(dead->headers().get(headers::death_reason) == "bad input");
}

TEST_CASE("a second live broker on the same data directory is refused") {
  ScratchDir dir;
  Broker first({.data_dir = dir.path()});
  CHECK(code_of([&] { Broker second({.data_dir = dir.path()}); }) == Errc::locked);
}

TEST_CASE("durability levels report how far a send was carried") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path()});
  QueueOptions always = kDurable;
  always.durability = Durability::always;
  broker.declare_queue("always", always);
  QueueOptions batch = kDurable;
  batch.durability = Durability::batch;
  broker.declare_queue("batch", batch);
  auto producer = broker.producer();

  Persisted reached = Persisted::memory;
  REQUIRE(producer.send("always", "x", {.on_complete = [&](const Result<SendReceipt>& r) {
                          if (r) reached = r->persisted;
                        }}));
  CHECK(reached == Persisted::synced);

  std::promise<Persisted> synced;
  auto future = synced.get_future();
  REQUIRE(producer.send("batch", "y", {.on_complete = [&](const Result<SendReceipt>& r) {
                          synced.set_value(r ? r->persisted : Persisted::memory);
                        }}));
  REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(future.get() == Persisted::synced);
}

/// Threads of this process now (one entry per thread in /proc/self/task).
std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

TEST_CASE("each batch queue and topic syncs all its logs on one thread - a send completes synced") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path()});
  QueueOptions batch = kDurable;
  batch.durability = Durability::batch;
  // Counted from the first one's on (a sanitizer may start a thread of its own with it).
  broker.declare_queue("q0", batch);
  const std::size_t before = thread_count();
  constexpr int kQueues = 5;
  for (int i = 1; i < kQueues; ++i) broker.declare_queue("q" + std::to_string(i), batch);
  broker.declare_topic("t", {.partitions = 3, .durability = Durability::batch});
  // One per destination, not per log (a journal has two logs, this topic three partitions).
  CHECK(thread_count() == before + (kQueues - 1) + 1);

  // Every destination's send still completes only once its record is synced.
  auto producer = broker.producer();
  std::vector<std::promise<Persisted>> synced(kQueues + 1);
  for (int i = 0; i <= kQueues; ++i) {
    const std::string to = i < kQueues ? "q" + std::to_string(i) : "t";
    REQUIRE(producer.send(to, "x", {.on_complete = [&, i](const Result<SendReceipt>& r) {
                            synced[i].set_value(r ? r->persisted : Persisted::memory);
                          }}));
  }
  for (auto& promise : synced) {
    auto future = promise.get_future();
    REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(future.get() == Persisted::synced);
  }
}

TEST_CASE("deleting a durable queue removes it from disk and from the catalog") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", kDurable);
    REQUIRE(broker.producer().send("jobs", "x"));
    broker.delete_queue("jobs");
  }
  Broker broker({.data_dir = dir.path()});
  CHECK_FALSE(broker.contains("jobs"));
  broker.declare_queue("jobs", kDurable);
  CHECK(broker.queue("jobs").depth() == 0);
}

TEST_CASE("a typed payload needs a codec to enter a durable queue") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path()});
  broker.declare_queue("objects", kDurable);
  auto producer = broker.producer();
  CHECK(producer.send("objects", object(Tracked(1))).code() == Errc::wrong_type);
  std::int64_t n = 42;
  REQUIRE(producer.send("objects", object(n)));
  auto objects_consumer = broker.consumer("objects");
  auto d = objects_consumer.receive();
  REQUIRE(d);
  CHECK(*d->message().get<std::int64_t>() == 42);
}

TEST_CASE("the catalog brings back a durable topic with its records and its group's offsets") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_topic("orders", {.partitions = 2, .durability = Durability::none});
    auto producer = broker.producer();
    for (int i = 0; i < 10; ++i) REQUIRE(producer.send("orders", std::to_string(i), {.key = "k"}));
    auto member = broker.group_consumer("orders", "billing", {.start = Start::earliest});
    std::size_t seen = 0;
    while (seen < 4) {
      auto batch = member.poll(4 - seen, std::chrono::seconds(0));
      REQUIRE(batch);
      seen += batch->size();
    }
    REQUIRE(member.commit());
  }
  Broker broker({.data_dir = dir.path()});
  REQUIRE(broker.contains("orders"));  // declared again from the catalog
  CHECK(broker.topic("orders").options().partitions == 2);
  auto member = broker.group_consumer("orders", "billing", {.start = Start::earliest});
  std::size_t rest = 0;
  for (int i = 0; i < 10 && rest < 6; ++i) {
    auto batch = member.poll(100, std::chrono::seconds(0));
    REQUIRE(batch);
    rest += batch->size();
  }
  CHECK(rest == 6);  // resumes after the 4 committed records
}

TEST_CASE("a message held back by the queue's default delay is still held back after a restart") {
  // Found by the reference model (tests/broker/model_test.cpp, seed 2000042): recovery kept a
  // send's own delay but forgot the queue's, so a restart delivered the message at once.
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  QueueOptions delayed = kDurable;
  delayed.delay = std::chrono::milliseconds(30);
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("q", delayed);
    REQUIRE(broker.producer().send("q", "later"));
  }
  Broker broker({.clock = clock, .data_dir = dir.path()});
  broker.declare_queue("q", delayed);
  auto consumer = broker.consumer("q");
  CHECK(consumer.receive(0ms).code() == Errc::timed_out);
  clock->advance(30ms);
  auto got = consumer.receive(0ms);
  REQUIRE(got);
  CHECK(text(*got) == "later");
}

TEST_CASE(
    "message ids never repeat for a data directory - reopened with nothing unsettled, "
    "twice, or after the broker died without closing") {
  ScratchDir dir;
  ScratchDir killed;  // a copy taken while the broker lives: what a kill -9 leaves behind
  const BrokerOptions options{.data_dir = dir.path(), .storage = {.segment_bytes = 1 << 16}};
  MessageId highest = 0;
  auto send_and_settle = [&](Broker& broker) {
    broker.declare_queue("jobs", kDurable);
    auto producer = broker.producer();
    auto consumer = broker.consumer("jobs");
    for (int i = 0; i < 3; ++i) {
      auto id = producer.send("jobs", "job");
      REQUIRE(id);
      CHECK(*id > highest);
      highest = *id;
      REQUIRE(consumer.receive()->ack());
    }
  };
  {
    Broker broker(options);
    send_and_settle(broker);
  }
  {
    Broker broker(options);  // nothing unsettled: recovery has no id to go by
    send_and_settle(broker);
  }
  {
    Broker broker(options);
    send_and_settle(broker);
    std::filesystem::copy(dir.path(), killed.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
  }
  Broker broker({.data_dir = killed.path(), .storage = {.segment_bytes = 1 << 16}});
  send_and_settle(broker);
}

TEST_CASE(
    "a send whose id block cannot be recorded fails with the write's error - never with "
    "an unrecorded id") {
  ScratchDir dir;
  auto broker = std::make_unique<Broker>(
      BrokerOptions{.data_dir = dir.path(), .storage = {.segment_bytes = 1 << 16}});
  broker->declare_queue("jobs", kDurable);
  // A directory where the ids file goes: the rename over it fails.
  std::filesystem::create_directories(dir.path() / "ids" / "in-the-way");
  auto producer = broker->producer();
  auto refused = producer.send("jobs", "job");
  REQUIRE_FALSE(refused);
  CHECK(refused.code() == Errc::io_error);
  CHECK_THAT(refused.message(), Catch::Contains("ids"));
  CHECK(broker->queue("jobs").stats().depth == 0);
  std::filesystem::remove_all(dir.path() / "ids");
  auto sent = producer.send("jobs", "job");
  REQUIRE(sent);
  producer = {};
  broker.reset();
  Broker reopened({.data_dir = dir.path(), .storage = {.segment_bytes = 1 << 16}});
  reopened.declare_queue("jobs", kDurable);
  auto after = reopened.producer().send("jobs", "job");
  REQUIRE(after);
  CHECK(*after > *sent);
}

TEST_CASE(
    "a stored queue message with a key longer than a message can hold is reported corrupt on "
    "recovery, as a topic's record is") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", kDurable);
  }
  {
    detail::QueueJournalOptions options;
    options.log.owner =
        detail::StorageOwner::of(detail::OwnerKind::queue, detail::StreamRole::records, "jobs", 0);
    auto journal = detail::QueueJournal::open(dir.path() / "queues" / "jobs", options);
    INFO((journal ? "" : journal.message()));
    REQUIRE(journal);
    detail::StoredMessage m;
    m.id = 7;
    m.key.assign(70000, 'k');  // the record format allows it; a Message holds 65535 bytes
    m.payload = bytes_of("payload");
    REQUIRE((*journal)->append(detail::fields_of(m)));
  }
  const auto error = error_of([&] { Broker broker({.data_dir = dir.path()}); });
  REQUIRE(error);
  CHECK(error->code() == Errc::corrupt);
  CHECK_THAT(error->what(), Catch::Contains("longer than 65535"));
}

// --- dedup ids across a restart (issue 15) ----------------------------------------------
// SQS FIFO: "If a message with a particular message deduplication ID is sent successfully, any
// messages sent with the same message deduplication ID are accepted successfully but aren't
// delivered during the 5-minute deduplication interval" — the interval is the server's, so a
// producer retrying across a broker restart must not get a duplicate either.

namespace {
/// A durable queue on small segments, so acknowledged messages really leave the journal.
QueueOptions dedup_queue(Duration window) {
  QueueOptions o = kDurable;
  o.dedup_window = window;
  o.storage.segment_bytes = 4096;
  return o;
}
}  // namespace

TEST_CASE("a dedup id sent before a restart is a duplicate after it - answered with the first id") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  MessageId first = 0;
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("payments", dedup_queue(5min));
    auto sent = broker.producer().send("payments", "charge 10", {.dedup_id = "pay-42"});
    REQUIRE(sent);
    first = *sent;
  }
  clock->advance(4min);
  Broker broker({.clock = clock, .data_dir = dir.path()});
  auto q = broker.queue("payments");
  auto producer = broker.producer();
  auto again = producer.send("payments", "charge 10", {.dedup_id = "pay-42"});
  REQUIRE(again);
  CHECK(*again == first);
  CHECK(q.depth() == 1);
  CHECK(q.stats().deduplicated == 1);
  auto c = broker.consumer("payments");
  auto d = c.receive();
  REQUIRE(d);
  CHECK(d->id() == first);
  REQUIRE(d->ack());
  CHECK_FALSE(c.receive());  // delivered once
}

TEST_CASE("a dedup id outlives its acknowledged message across a restart - for the whole window") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  MessageId first = 0;
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("payments", dedup_queue(5min));
    auto producer = broker.producer();
    auto sent = producer.send("payments", "charge 10", {.dedup_id = "pay-42"});
    REQUIRE(sent);
    first = *sent;
    auto c = broker.consumer("payments");
    // Enough traffic, all acknowledged, to fill several segments: every segment below the
    // settled floor may go, except the ones still holding an id within its window.
    for (int i = 0; i < 200; ++i) {
      REQUIRE(producer.send("payments", std::string(100, 'x')));
      auto d = c.receive();
      REQUIRE(d);
      REQUIRE(d->ack());
    }
    auto d = c.receive();
    REQUIRE(d);
    REQUIRE(d->ack());
    CHECK_FALSE(c.receive());
  }
  clock->advance(4min);
  Broker broker({.clock = clock, .data_dir = dir.path()});
  auto q = broker.queue("payments");
  CHECK(q.depth() == 0);  // settled messages do not come back...
  auto again = broker.producer().send("payments", "charge 10", {.dedup_id = "pay-42"});
  REQUIRE(again);
  CHECK(*again == first);  // ...but their ids are remembered
  CHECK(q.depth() == 0);
  CHECK(q.stats().deduplicated == 1);
}

TEST_CASE("a dedup id whose window ended before the restart is new again after it") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  MessageId first = 0;
  {
    Broker broker({.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("payments", dedup_queue(5min));
    auto sent = broker.producer().send("payments", "charge 10", {.dedup_id = "pay-42"});
    REQUIRE(sent);
    first = *sent;
  }
  clock->advance(5min);
  Broker broker({.clock = clock, .data_dir = dir.path()});
  auto q = broker.queue("payments");
  auto later = broker.producer().send("payments", "charge 10", {.dedup_id = "pay-42"});
  REQUIRE(later);
  CHECK(*later != first);
  CHECK(q.depth() == 2);
  CHECK(q.stats().deduplicated == 0);
}
