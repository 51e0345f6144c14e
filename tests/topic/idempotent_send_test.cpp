// Idempotent topic sends: a producer-supplied `dedup_id` deduplicated within the topic's
// `dedup_window`, by the queues' mechanism (util/dedup_window.hpp). The rule is SQS FIFO's
// ("if a message with a particular message deduplication ID is sent successfully, any messages
// sent with the same message deduplication ID are accepted successfully but aren't delivered
// during the 5-minute deduplication interval"), giving what Kafka's idempotent producer gives:
// a retried send is written once.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {
/// The receipt of a send to a topic (through on_complete, which carries partition and offset).
Result<SendReceipt> send(Producer& producer, std::string_view topic, std::string_view payload,
                         SendOptions options) {
  std::optional<Result<SendReceipt>> receipt;
  options.on_complete = [&](const Result<SendReceipt>& r) { receipt.emplace(r); };
  auto sent = producer.send(topic, payload, options);
  REQUIRE(receipt.has_value());
  CHECK(static_cast<bool>(sent) == static_cast<bool>(*receipt));
  return *receipt;
}
}  // namespace

TEST_CASE("a topic send repeated with its dedup id within the window is appended once") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("events", {.partitions = 4});
  auto first = send(t.producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"});
  REQUIRE(first);
  CHECK_FALSE(first->duplicate);
  // The retry is acknowledged with the first send's receipt, and appends nothing.
  auto retry = send(t.producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"});
  REQUIRE(retry);
  CHECK(retry->duplicate);
  CHECK(retry->id == first->id);
  CHECK(retry->partition == first->partition);
  CHECK(retry->offset == first->offset);
  CHECK(topic.stats().appended == 1);
  CHECK(topic.stats().deduplicated == 1);
  // Another id is another record.
  REQUIRE(send(t.producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-2"}));
  CHECK(topic.stats().appended == 2);
}

TEST_CASE("after the topic's dedup window the same id is appended again") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("events", {.dedup_window = 1min});
  REQUIRE(send(t.producer, "events", "a", {.dedup_id = "x"}));
  t.clock->advance(59s);
  CHECK(send(t.producer, "events", "a", {.dedup_id = "x"})->duplicate);
  t.clock->advance(1s);
  auto later = send(t.producer, "events", "a", {.dedup_id = "x"});
  REQUIRE(later);
  CHECK_FALSE(later->duplicate);
  CHECK(topic.stats().appended == 2);
}

TEST_CASE("a topic send that failed is not remembered - its retry gets in") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("events", {.max_payload = 4});
  CHECK(send(t.producer, "events", "too large", {.dedup_id = "x"}).code() ==
        Errc::payload_too_large);
  auto retry = send(t.producer, "events", "ok", {.dedup_id = "x"});
  REQUIRE(retry);
  CHECK_FALSE(retry->duplicate);
  CHECK(topic.stats().appended == 1);
}

TEST_CASE("a subscribed queue gets a deduplicated topic send once") {
  ManualBroker t;
  auto queue = t.broker.declare_queue("copies");
  t.broker.declare_topic("events");
  t.broker.subscribe_queue("events", "copies");
  for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("events", "once", {.dedup_id = "x"}));
  CHECK(queue.depth() == 1);
}

TEST_CASE("a durable topic deduplicates too - and keeps its dedup window in the catalog") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("switchyard-topic-dedup-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const TopicOptions options{.durability = Durability::none, .dedup_window = 30s};
  {
    Broker broker({.data_dir = dir});
    auto topic = broker.declare_topic("events", options);
    auto producer = broker.producer();
    REQUIRE(send(producer, "events", "a", {.dedup_id = "x"}));
    CHECK(send(producer, "events", "a", {.dedup_id = "x"})->duplicate);
    CHECK(topic.stats().appended == 1);
    CHECK(code_of([&] { broker.declare_topic("events", {.durability = Durability::none}); }) ==
          Errc::option_mismatch);
  }
  {
    Broker broker({.data_dir = dir});
    CHECK(broker.topic("events").options().dedup_window == 30s);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a negative topic dedup window is refused") {
  Broker broker;
  CHECK(code_of([&] { broker.declare_topic("events", {.dedup_window = -1s}); }) ==
        Errc::invalid_argument);
}

// --- across a restart (issue 15) ----------------------------------------------------------
// SQS keeps a deduplication id server-side for the whole 5-minute interval; a durable topic
// keeps it across a close and reopen, so a producer retrying across a restart appends once.

namespace {
struct DedupDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("switchyard-topic-dedup-restart-" + std::to_string(::getpid()));
  DedupDir() { std::filesystem::remove_all(path); }
  ~DedupDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};
const TopicOptions kDurableEvents{.partitions = 3, .durability = Durability::none,
                                  .dedup_window = 5min};
}  // namespace

TEST_CASE("a durable topic's dedup id survives a restart - the retry gets the first receipt") {
  DedupDir dir;
  auto clock = std::make_shared<ManualClock>();
  Result<SendReceipt> first = Result<SendReceipt>(Errc::closed);
  {
    Broker broker({.clock = clock, .data_dir = dir.path});
    broker.declare_topic("events", kDurableEvents);
    auto producer = broker.producer();
    first = send(producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"});
    REQUIRE(first);
    REQUIRE(send(producer, "events", "other", {.key = "order-2", .dedup_id = "pay-2"}));
  }
  clock->advance(4min);
  Broker broker({.clock = clock, .data_dir = dir.path});
  auto topic = broker.topic("events");
  auto producer = broker.producer();
  const auto appended = topic.stats().appended;
  CHECK(appended == 2);
  // Through the fields path (no subscription) and, below, through the Message path.
  auto retry = send(producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"});
  REQUIRE(retry);
  CHECK(retry->duplicate);
  CHECK(retry->id == first->id);
  CHECK(retry->partition == first->partition);
  CHECK(retry->offset == first->offset);
  CHECK(topic.stats().appended == appended);
  CHECK(topic.stats().deduplicated == 1);
  auto copies = broker.declare_queue("copies");
  broker.subscribe_queue("events", "copies");
  CHECK(send(producer, "events", "other", {.key = "order-2", .dedup_id = "pay-2"})->duplicate);
  CHECK(copies.depth() == 0);
  // A new id is a new record.
  auto fresh = send(producer, "events", "new", {.key = "order-1", .dedup_id = "pay-3"});
  REQUIRE(fresh);
  CHECK_FALSE(fresh->duplicate);
  CHECK(fresh->offset == first->offset + 1);
}

TEST_CASE("a durable topic's dedup id whose window ended before the restart is appended again") {
  DedupDir dir;
  auto clock = std::make_shared<ManualClock>();
  {
    Broker broker({.clock = clock, .data_dir = dir.path});
    broker.declare_topic("events", kDurableEvents);
    auto producer = broker.producer();
    REQUIRE(send(producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"}));
  }
  clock->advance(5min);
  Broker broker({.clock = clock, .data_dir = dir.path});
  auto producer = broker.producer();
  auto later = send(producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"});
  REQUIRE(later);
  CHECK_FALSE(later->duplicate);
  CHECK(broker.topic("events").stats().deduplicated == 0);
}

TEST_CASE("a durable topic's dedup id sent while a queue was subscribed survives a restart too") {
  // With a subscription the send takes the Message path (the queue shares the Message), not
  // the fields path: the id must reach the record either way.
  DedupDir dir;
  auto clock = std::make_shared<ManualClock>();
  Result<SendReceipt> first = Result<SendReceipt>(Errc::closed);
  {
    Broker broker({.clock = clock, .data_dir = dir.path});
    broker.declare_topic("events", kDurableEvents);
    auto copies = broker.declare_queue("copies");
    broker.subscribe_queue("events", "copies");
    auto producer = broker.producer();
    first = send(producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"});
    REQUIRE(first);
    CHECK(copies.depth() == 1);
  }
  clock->advance(1min);
  Broker broker({.clock = clock, .data_dir = dir.path});
  auto producer = broker.producer();
  auto retry = send(producer, "events", "paid", {.key = "order-1", .dedup_id = "pay-1"});
  REQUIRE(retry);
  CHECK(retry->duplicate);
  CHECK(retry->id == first->id);
  CHECK(retry->partition == first->partition);
  CHECK(retry->offset == first->offset);
  CHECK(broker.topic("events").stats().appended == 1);
}
