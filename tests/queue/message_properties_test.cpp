// Producer-set message id and timestamp: AMQP's `message-id` and `timestamp` properties ("set
// by the publishing application", opaque to the broker) and Kafka's CreateTime ("the timestamp
// assigned by the producer"). Both travel with the message — through a queue, its dead-letter
// queue, an exchange, a topic — and survive durable storage (stored-message body version 2;
// messages without them keep the version-1 bytes every earlier build reads).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "durable/stored_message.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;
using switchyard::test::ScratchDir;

namespace {
const Timestamp kCreated = Timestamp(std::chrono::seconds(1'700'000'000));
}  // namespace

TEST_CASE("a producer-set message id and timestamp reach the consumer - the broker's id stays") {
  ManualBroker t;
  t.broker.declare_queue("orders");
  auto sent = t.producer.send("orders", "x", {.message_id = "order-42", .timestamp = kCreated});
  REQUIRE(sent);
  REQUIRE(t.producer.send("orders", "plain"));
  auto c = t.broker.consumer("orders");
  auto d = c.receive(0s);
  REQUIRE(d);
  CHECK(d->message().message_id() == "order-42");
  CHECK(d->message().timestamp() == kCreated);
  CHECK(d->id() == *sent);  // the broker's own id is unchanged
  auto plain = c.receive(0s);
  REQUIRE(plain);
  CHECK(plain->message().message_id().empty());
  CHECK(plain->message().timestamp() == t.clock->wall_now());  // unset: the send's time
}

TEST_CASE("a producer-set timestamp does not move TTLs - they count from the send") {
  ManualBroker t;
  t.broker.declare_queue("orders", {.ttl = 10s});
  // A timestamp far in the past must not make the message expire at once.
  REQUIRE(t.producer.send("orders", "x", {.timestamp = Timestamp(std::chrono::seconds(1))}));
  t.clock->advance(5s);
  auto c = t.broker.consumer("orders");
  REQUIRE(c.receive(0s));
}

TEST_CASE("a dead letter keeps its producer-set message id and timestamp") {
  ManualBroker t;
  t.broker.declare_queue("dlq");
  t.broker.declare_queue("orders", {.dead_letter = "dlq"});
  REQUIRE(t.producer.send("orders", "bad", {.message_id = "order-7", .timestamp = kCreated}));
  auto c = t.broker.consumer("orders");
  auto d = c.receive(0s);
  REQUIRE(d);
  REQUIRE(d->reject("poison"));
  auto dlq = t.broker.consumer("dlq");
  auto dead = dlq.receive(0s);
  REQUIRE(dead);
  CHECK(dead->message().message_id() == "order-7");
  CHECK(dead->message().timestamp() == kCreated);
}

TEST_CASE("a message id longer than 65535 bytes is refused") {
  ManualBroker t;
  t.broker.declare_queue("orders");
  const std::string id(65536, 'i');
  CHECK(t.producer.send("orders", "x", {.message_id = id}).code() == Errc::invalid_argument);
}

TEST_CASE("a durable queue and its durable dead-letter queue keep message id and timestamp") {
  ScratchDir dir;
  const QueueOptions durable{.visibility_timeout = 0s, .durability = Durability::none};
  QueueOptions with_dlq = durable;
  with_dlq.dead_letter = "dlq";
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("dlq", durable);
    broker.declare_queue("orders", with_dlq);
    auto producer = broker.producer();
    REQUIRE(producer.send("orders", "kept", {.message_id = "order-1", .timestamp = kCreated}));
    REQUIRE(producer.send("orders", "dead", {.message_id = "order-2", .timestamp = kCreated}));
    auto c = broker.consumer("orders");
    auto first = c.receive(1s);
    REQUIRE(first);
    auto second = c.receive(1s);
    REQUIRE(second);
    REQUIRE(second->reject("poison"));
    // `first` is not acked: it comes back after the restart.
  }
  Broker broker({.data_dir = dir.path()});
  auto c = broker.consumer("orders");
  auto again = c.receive(1s);
  REQUIRE(again);
  CHECK(again->message().message_id() == "order-1");
  CHECK(again->message().timestamp() == kCreated);
  auto dlq = broker.consumer("dlq");
  auto dead = dlq.receive(1s);
  REQUIRE(dead);
  CHECK(dead->message().message_id() == "order-2");
  CHECK(dead->message().timestamp() == kCreated);
}

TEST_CASE("a durable topic keeps a record's message id and CreateTime across a restart") {
  ScratchDir dir;
  const TopicOptions durable{.durability = Durability::none};
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_topic("events", durable);
    REQUIRE(broker.producer().send("events", "e", {.message_id = "evt-1", .timestamp = kCreated}));
  }
  Broker broker({.data_dir = dir.path()});
  auto member = broker.group_consumer("events", "g", {.start = Start::earliest});
  auto batch = member.poll(10, 1s);
  REQUIRE(batch);
  REQUIRE(batch->size() == 1);
  const Record& r = *batch->begin();
  CHECK(r.message_id() == "evt-1");
  CHECK(r.timestamp() == kCreated);
}

// --- the stored body: version 1 stays as it was, version 2 adds the trailer, version 3 the dedup id

TEST_CASE("a message without producer-set fields is stored as body version 1 - as before") {
  detail::StoredMessage m;
  m.id = 7;
  m.timestamp_ns = 1000;
  m.key = "k";
  m.payload = bytes_of("p");
  std::vector<std::byte> out;
  detail::encode(detail::fields_of(m), out);
  REQUIRE(out.size() == detail::stored_message::kFixedSize + 2);
  CHECK(static_cast<int>(out[33]) == 1);
  auto back = detail::decode_stored_message(out);
  REQUIRE(back);
  CHECK(*back == m);
}

TEST_CASE("a message with a message id or timestamp is stored as body version 2 - and read back") {
  detail::StoredMessage m;
  m.id = 7;
  m.timestamp_ns = 1000;
  m.key = "k";
  m.payload = bytes_of("p");
  m.created_ns = 123;
  m.message_id = "order-42";
  std::vector<std::byte> out;
  detail::encode(detail::fields_of(m), out);
  CHECK(out.size() == detail::stored_message::kFixedSize + 2 + 12 + 8);
  CHECK(static_cast<int>(out[33]) == 2);
  auto back = detail::decode_stored_message(out);
  REQUIRE(back);
  CHECK(*back == m);
  // A cut trailer is corrupt, naming the field.
  out.resize(out.size() - 3);
  auto cut = detail::decode_stored_message(out);
  REQUIRE_FALSE(cut);
  CHECK(cut.code() == Errc::corrupt);
  CHECK(cut.message().find("message id") != std::string::npos);
}

TEST_CASE("a body version this build does not know is a typed corrupt error") {
  detail::StoredMessage m;
  m.id = 7;
  m.timestamp_ns = 1000;
  std::vector<std::byte> out;
  detail::encode(detail::fields_of(m), out);
  out[33] = std::byte{4};
  auto read = detail::decode_stored_message(out);
  REQUIRE_FALSE(read);
  CHECK(read.code() == Errc::corrupt);
  CHECK(read.message().find("message body version 4") != std::string::npos);
}

TEST_CASE("a send's dedup id and its window end are stored as body version 3 - and read back") {
  detail::StoredMessage m;
  m.id = 7;
  m.timestamp_ns = 1000;
  m.key = "k";
  m.payload = bytes_of("p");
  m.dedup_id = "pay-42";
  m.dedup_until_ns = 123456789;
  std::vector<std::byte> out;
  detail::encode(detail::fields_of(m), out);
  // The version-2 trailer (empty here), then the dedup trailer.
  CHECK(out.size() == detail::stored_message::kFixedSize + 2 + 12 + 12 + 6);
  CHECK(static_cast<int>(out[33]) == detail::stored_message::kBodyVersionWithDedup);
  auto back = detail::decode_stored_message(out);
  REQUIRE(back);
  CHECK(*back == m);
  m.created_ns = 123;
  m.message_id = "order-42";
  out.clear();
  detail::encode(detail::fields_of(m), out);
  back = detail::decode_stored_message(out);
  REQUIRE(back);
  CHECK(*back == m);
  // A cut dedup trailer is corrupt, naming the field.
  out.resize(out.size() - 2);
  auto cut = detail::decode_stored_message(out);
  REQUIRE_FALSE(cut);
  CHECK(cut.code() == Errc::corrupt);
  CHECK(cut.message().find("dedup id") != std::string::npos);
}
