// Durable topics: partitions and committed group offsets kept under the broker's data_dir,
// recovered by a new broker on the same directory; durability levels reported per send.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;
using switchyard::test::ScratchDir;
using switchyard::test::segment_files;

namespace {

/// A broker on a manual clock over `dir`, with one producer.
struct DurableBroker {
  explicit DurableBroker(const std::filesystem::path& dir,
                         std::shared_ptr<ManualClock> c = std::make_shared<ManualClock>())
      : clock(std::move(c)), broker(BrokerOptions{.clock = clock, .data_dir = dir}) {}
  std::shared_ptr<ManualClock> clock;
  Broker broker;
  Producer producer = broker.producer();

  /// Sends and returns the receipt on_complete saw (the send's own result must succeed).
  SendReceipt send(std::string_view topic, std::string_view payload, SendOptions options = {}) {
    Result<SendReceipt> seen(Errc::timed_out, "on_complete was not called");
    options.on_complete = [&](const Result<SendReceipt>& r) { seen = r; };
    auto id = producer.send(topic, payload, options);
    REQUIRE(id);
    REQUIRE(seen);
    return *seen;
  }
};

TopicOptions durable(Durability level, std::uint32_t partitions = 1) {
  return TopicOptions{.partitions = partitions, .durability = level};
}

std::vector<Record> drain(GroupConsumer& c) {
  std::vector<Record> out;
  for (;;) {
    auto batch = c.poll(1000);
    REQUIRE(batch);
    if (batch->empty() && batch->missed().empty()) return out;
    for (const auto& r : *batch) out.push_back(r);
  }
}

/// prefix + n (built by appending: GCC 12 warns falsely, -Wrestrict, on "literal" + string).
std::string numbered(std::string_view prefix, std::uint64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

std::filesystem::path topic_dir(const ScratchDir& dir, const std::string& name) {
  return dir / "topics" / name;
}

}  // namespace

TEST_CASE("a durable topic without a broker data_dir is refused - naming the topic") {
  Broker broker;
  try {
    broker.declare_topic("orders", durable(Durability::none));
    FAIL("declare_topic accepted a durable topic without a data_dir");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::invalid_argument);
    CHECK_THAT(e.what(), Catch::Contains("orders") && Catch::Contains("data_dir"));
  }
  CHECK_FALSE(broker.contains("orders"));
}

TEST_CASE("records survive a broker restart with their offsets - keys - headers and timestamps") {
  ScratchDir dir;
  struct Sent {
    std::string key, payload;
    Headers headers;
    std::uint64_t id;
    Timestamp timestamp;
  };
  std::map<std::pair<std::uint32_t, std::uint64_t>, Sent> sent;  // (partition, offset)
  auto clock = std::make_shared<ManualClock>();
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("orders", durable(Durability::none, 3));
    for (int i = 0; i < 60; ++i) {
      const std::string key = "customer-" + std::to_string(i % 7);
      const std::string payload = numbered("order-", i) + std::string(i, 'x');
      Headers headers{{"type", i % 2 ? "created" : "paid"}, {"n", std::to_string(i)}};
      SendReceipt r = b.send("orders", payload, {.key = key, .headers = headers});
      CHECK(r.persisted == Persisted::written);
      sent[{r.partition, r.offset}] = Sent{key, payload, headers, r.id, clock->wall_now()};
      clock->advance(1ms);
    }
  }
  DurableBroker b(dir.path(), clock);
  auto topic = b.broker.declare_topic("orders", durable(Durability::none, 3));
  auto consumer = b.broker.group_consumer("orders", "audit", {.start = Start::earliest});
  auto records = drain(consumer);
  REQUIRE(records.size() == sent.size());
  for (const Record& r : records) {
    INFO("partition " << r.partition << " offset " << r.offset);
    auto it = sent.find({r.partition, r.offset});
    REQUIRE(it != sent.end());
    CHECK(r.key() == it->second.key);
    CHECK(r.payload().as_string() == it->second.payload);
    CHECK(r.headers() == it->second.headers);
    CHECK(r.id() == it->second.id);
    CHECK(r.timestamp() == it->second.timestamp);
  }
  // New records continue at the old end offsets.
  std::map<std::uint32_t, std::uint64_t> ends;
  for (const auto& [where, s] : sent)
    ends[where.first] = std::max(ends[where.first], where.second + 1);
  for (std::uint32_t p = 0; p < 3; ++p) {
    SendReceipt r = b.send("orders", "after restart", {.partition = p});
    CHECK(r.offset == ends[p]);
  }
  CHECK(topic.stats().appended == sent.size() + 3);
}

TEST_CASE("a group resumes exactly after its last commit on a restarted broker") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("events", durable(Durability::always, 2));
    for (int i = 0; i < 40; ++i) {
      b.send("events", numbered("e", i), {.partition = static_cast<std::uint32_t>(i % 2)});
    }
    auto c = b.broker.group_consumer("events", "billing", {.start = Start::earliest});
    // Read partition 0 up to offset 12, partition 1 to its end; commit them; then read more
    // without committing (that progress must not survive).
    REQUIRE(c.poll(0));
    REQUIRE(c.assignment().size() == 2);
    REQUIRE(c.commit(0, 12));
    REQUIRE(c.commit(1, 20));
    REQUIRE(c.seek(0, 15));
    (void)drain(c);
    CHECK(c.committed(0).value() == 12);
    // A second group that only ever committed partition 1.
    auto d = b.broker.group_consumer("events", "other", {.start = Start::earliest});
    REQUIRE(d.poll(0));
    REQUIRE(d.commit(1, 5));
  }
  DurableBroker b(dir.path(), clock);
  b.broker.declare_topic("events", durable(Durability::always, 2));
  b.send("events", "new", {.partition = 0});  // offset 20 of partition 0
  auto c = b.broker.group_consumer("events", "billing", {.start = Start::latest});
  CHECK(c.committed(0).value() == 12);
  CHECK(c.committed(1).value() == 20);
  auto records = drain(c);
  REQUIRE(records.size() == 9);  // partition 0 offsets 12..20; partition 1 nothing
  for (std::size_t i = 0; i < records.size(); ++i) {
    CHECK(records[i].partition == 0);
    CHECK(records[i].offset == 12 + i);
  }
  CHECK(records.back().payload().as_string() == "new");
  // `start` applies only to the partitions the group never committed.
  auto d = b.broker.group_consumer("events", "other", {.start = Start::latest});
  CHECK(d.committed(0).value() == 21);  // latest: the end of partition 0
  CHECK(d.committed(1).value() == 5);   // its commit
}

TEST_CASE("a group member that outlives its broker commits nothing into the reopened topic") {
  // The queue journal's rule (queue_journal.hpp, Retirement) for topics: a handle from before a
  // restart belongs to the closed broker; its commit must not land in the files the reopened
  // broker has open (it would overwrite the new broker's checkpoint with the old one's view).
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  std::optional<GroupConsumer> old_member;
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("events", durable(Durability::always, 1));
    for (int i = 0; i < 10; ++i) b.send("events", numbered("e", i));
    old_member = b.broker.group_consumer("events", "billing", {.start = Start::earliest});
    REQUIRE(old_member->poll(0));
    REQUIRE(old_member->commit(0, 3));
  }
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("events", durable(Durability::always, 1));
    auto fresh = b.broker.group_consumer("events", "billing", {.start = Start::earliest});
    REQUIRE(fresh.poll(0));
    CHECK(fresh.committed(0).value() == 3);
    REQUIRE(fresh.commit(0, 7));
    CHECK(old_member->commit(0, 9).code() == Errc::closed);
    old_member.reset();
    CHECK(fresh.committed(0).value() == 7);
  }
  DurableBroker b(dir.path(), clock);
  b.broker.declare_topic("events", durable(Durability::always, 1));
  auto member = b.broker.group_consumer("events", "billing", {.start = Start::latest});
  CHECK(member.committed(0).value() == 7);
}

TEST_CASE("a committed position of 0 survives a restart and the group is known after it") {
  // Issue 10 §1.2: 400 records polled from partition 0 of 2, committed (committed(1) = 0);
  // 500 more land in partition 1. After the restart the group must still be known, with both
  // positions, and a member rejoining with Start::latest must read those 500 records.
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("events", durable(Durability::always, 2));
    for (int i = 0; i < 400; ++i) b.send("events", numbered("a", i), {.partition = 0});
    auto c = b.broker.group_consumer("events", "g", {.start = Start::earliest});
    REQUIRE(drain(c).size() == 400);
    REQUIRE(c.commit());
    CHECK(c.committed(0).value() == 400);
    CHECK(c.committed(1).value() == 0);
    for (int i = 0; i < 500; ++i) b.send("events", numbered("b", i), {.partition = 1});
  }
  DurableBroker b(dir.path(), clock);
  auto topic = b.broker.declare_topic("events", durable(Durability::always, 2));
  const auto known = topic.group_stats("g");
  REQUIRE(known.has_value());
  REQUIRE(known->partitions.size() == 2);
  CHECK(known->members == 0);
  CHECK(known->partitions[0].committed == 400);
  CHECK(known->partitions[1].committed == 0);
  CHECK(known->lag == 500);
  auto c = b.broker.group_consumer("events", "g", {.start = Start::latest});
  CHECK(c.committed(0).value() == 400);
  CHECK(c.committed(1).value() == 0);
  std::size_t from_partition_1 = 0;
  for (;;) {
    auto batch = c.poll(1000);
    REQUIRE(batch);
    CHECK(batch->missed().empty());
    if (batch->empty()) break;
    for (const auto& r : *batch) {
      CHECK(r.partition == 1);
      from_partition_1 += r.partition == 1 ? 1 : 0;
    }
  }
  CHECK(from_partition_1 == 500);
}

TEST_CASE("a restored group places the partitions it never committed by its next member's start") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("events", durable(Durability::always, 2));
    for (int i = 0; i < 10; ++i) b.send("events", numbered("a", i), {.partition = 0});
    for (int i = 0; i < 7; ++i) b.send("events", numbered("b", i), {.partition = 1});
    auto c = b.broker.group_consumer("events", "g", {.start = Start::earliest});
    REQUIRE(c.poll(0));
    REQUIRE(c.commit(0, 4));  // partition 1 never committed
  }
  DurableBroker b(dir.path(), clock);
  auto topic = b.broker.declare_topic("events", durable(Durability::always, 2));
  REQUIRE(topic.group_stats("g").has_value());
  CHECK(topic.group_stats("g")->partitions[0].committed == 4);
  // Kafka's auto.offset.reset: `start` applies to partitions with no committed offset only.
  auto c = b.broker.group_consumer("events", "g", {.start = Start::latest});
  CHECK(c.committed(0).value() == 4);
  CHECK(c.committed(1).value() == 7);
  CHECK(topic.group_stats("g")->partitions[1].committed == 7);
}

TEST_CASE("retention deletes whole old segments of a durable topic and readers see the gap") {
  ScratchDir dir;
  DurableBroker b(dir.path());
  TopicOptions options{.retention = {.records = 0, .bytes = 256 * 1024, .age = {}},
                       .max_payload = 1024,
                       .durability = Durability::none};
  auto topic = b.broker.declare_topic("metrics", options);
  const std::string payload(1000, 'm');
  for (int i = 0; i < 3000; ++i) b.send("metrics", payload);  // ~3 MB, ~10x the limit
  auto stats = topic.stats();
  REQUIRE(stats.partitions.size() == 1);
  const auto& p = stats.partitions[0];
  CHECK(p.end_offset == 3000);
  CHECK(p.start_offset > 0);
  CHECK(p.bytes >= 256 * 1024);  // at least the limit is kept...
  CHECK(p.bytes < 1024 * 1024);  // ...and not much more (segments of ~256 KiB)
  CHECK(segment_files(topic_dir(dir, "metrics") / "p0").size() <= 4);
  auto c = b.broker.group_consumer("metrics", "late", {.start = Start::offset, .offset = 0});
  auto batch = c.poll(10);
  REQUIRE(batch);
  REQUIRE(batch->missed().size() == 1);
  CHECK(batch->missed()[0].from == 0);
  CHECK(batch->missed()[0].count == p.start_offset);
  REQUIRE(batch->size() == 10);
  CHECK((*batch)[0].offset == p.start_offset);
}

TEST_CASE("retention by age on a durable topic drops segments older than the limit") {
  ScratchDir dir;
  DurableBroker b(dir.path());
  TopicOptions options{.retention = {.records = 1000, .bytes = 256 * 1024, .age = 1h},
                       .max_payload = 1024,
                       .durability = Durability::none};
  auto topic = b.broker.declare_topic("logs", options);
  const std::string payload(1000, 'a');
  for (int i = 0; i < 600; ++i) b.send("logs", payload);  // > 2 segments of ~256 KiB...
  b.clock->advance(2h);
  for (int i = 0; i < 5; ++i) b.send("logs", "fresh");
  const auto before = segment_files(topic_dir(dir, "logs") / "p0").size();
  auto stats = topic.stats();  // runs the age check
  CHECK(stats.partitions[0].start_offset > 0);
  CHECK(segment_files(topic_dir(dir, "logs") / "p0").size() < before);
}

TEST_CASE("Durability::always reports each send as synced before it returns") {
  ScratchDir dir;
  DurableBroker b(dir.path());
  b.broker.declare_topic("ledger", durable(Durability::always));
  for (std::uint64_t i = 0; i < 5; ++i) {
    SendReceipt r = b.send("ledger", "entry");
    CHECK(r.persisted == Persisted::synced);
    CHECK(r.offset == i);
  }
}

TEST_CASE("Durability::batch calls on_complete once per send - after the group sync") {
  ScratchDir dir;
  DurableBroker b(dir.path());
  b.broker.declare_topic("clicks", durable(Durability::batch, 2));
  constexpr int kSends = 200;
  std::atomic<int> completed{0}, synced{0}, failed{0};
  std::vector<std::atomic<int>> per_send(kSends);
  std::atomic<std::uint64_t> offset_sum{0};
  for (int i = 0; i < kSends; ++i) {
    SendOptions options{.partition = static_cast<std::uint32_t>(i % 2)};
    options.on_complete = [&, i](const Result<SendReceipt>& r) {
      per_send[i].fetch_add(1);
      if (!r) {
        failed.fetch_add(1);
      } else {
        if (r->persisted == Persisted::synced) synced.fetch_add(1);
        offset_sum.fetch_add(r->offset);
      }
      completed.fetch_add(1, std::memory_order_release);
    };
    REQUIRE(b.producer.send("clicks", numbered("click ", i), options));
  }
  REQUIRE(eventually([&] { return completed.load(std::memory_order_acquire) == kSends; }));
  CHECK(synced == kSends);
  CHECK(failed == 0);
  for (auto& n : per_send) CHECK(n.load() == 1);
  // Offsets 0..99 in each partition.
  CHECK(offset_sum == 2 * (99 * 100 / 2));
  // Without on_complete a batch send is simply accepted as written.
  REQUIRE(b.producer.send("clicks", "fire and forget"));
}

TEST_CASE("a torn tail left by a crash recovers exactly the records wholly before the cut") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("t", durable(Durability::none));
    for (int i = 0; i < 50; ++i) b.send("t", numbered("record-", i));
  }
  // Cut the last segment a few bytes into its last record (the file is preallocated: find
  // where the data ends, then truncate there minus 3 bytes).
  auto files = segment_files(topic_dir(dir, "t") / "p0");
  REQUIRE(!files.empty());
  auto bytes = switchyard::test::read_all(files.back());
  std::size_t end = bytes.size();
  while (end > 0 && bytes[end - 1] == std::byte{0}) --end;
  REQUIRE(end > 3);
  std::filesystem::resize_file(files.back(), end - 3);

  DurableBroker b(dir.path(), clock);
  auto topic = b.broker.declare_topic("t", durable(Durability::none));
  CHECK(topic.stats().partitions[0].end_offset == 49);
  auto c = b.broker.group_consumer("t", "g", {.start = Start::earliest});
  auto records = drain(c);
  REQUIRE(records.size() == 49);
  for (std::size_t i = 0; i < records.size(); ++i) {
    CHECK(records[i].offset == i);
    CHECK(records[i].payload().as_string() == numbered("record-", i));
  }
  CHECK(b.send("t", "next").offset == 49);
}

TEST_CASE("a durable topic fans out to subscribed queues and delete_topic removes its files") {
  ScratchDir dir;
  DurableBroker b(dir.path());
  b.broker.declare_topic("orders", durable(Durability::none));
  b.broker.declare_queue("billing");
  b.broker.subscribe_queue("orders", "billing");
  b.send("orders", "o1", {.key = "k"});
  auto consumer = b.broker.consumer("billing");
  auto d = consumer.receive();
  REQUIRE(d);
  CHECK(d->payload().as_string() == "o1");
  REQUIRE(std::filesystem::exists(topic_dir(dir, "orders")));
  b.broker.delete_topic("orders");
  CHECK_FALSE(std::filesystem::exists(topic_dir(dir, "orders")));
  // Declared again: a new, empty topic.
  auto topic = b.broker.declare_topic("orders", durable(Durability::none));
  CHECK(topic.stats().appended == 0);
  CHECK(b.send("orders", "again").offset == 0);
}

TEST_CASE(
    "a durable topic stores the same record whether a send is encoded straight into the log or "
    "built as a message first (a subscribed queue, an interceptor)") {
  struct Stamper : Interceptor {
    void on_send(std::string_view, Headers& headers) override {
      headers = headers.with("stamped", "yes");
    }
  };
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  const Headers headers{{"type", "created"}, {"n", "7"}};
  const SendOptions options{.key = "customer-3", .headers = headers, .priority = 4, .group = "g"};
  std::vector<std::pair<MessageId, Timestamp>> sent;
  {
    DurableBroker b(dir.path(), clock);
    b.broker.declare_topic("orders", durable(Durability::none));
    b.broker.declare_queue("billing");
    // 0: no subscription (straight into the log); 1: a subscribed queue needs the message;
    // 2: unsubscribed again.
    for (int i = 0; i < 3; ++i) {
      if (i == 1) b.broker.subscribe_queue("orders", "billing");
      if (i == 2) b.broker.unsubscribe_queue("orders", "billing");
      auto id = b.producer.send("orders", numbered("order-", i), options);
      REQUIRE(id);
      sent.emplace_back(*id, clock->wall_now());
      clock->advance(1ms);
    }
    auto billing_consumer = b.broker.consumer("billing");
    auto queued = billing_consumer.receive();
    REQUIRE(queued);
    CHECK(queued->payload().as_string() == "order-1");
    CHECK(queued->id() == sent[1].first);
  }
  {
    // 3: an interceptor adds a header on the way: the message is built as before.
    Broker broker(BrokerOptions{
        .clock = clock, .interceptors = {std::make_shared<Stamper>()}, .data_dir = dir.path()});
    broker.declare_topic("orders", durable(Durability::none));
    auto id = broker.producer().send("orders", numbered("order-", 3), options);
    REQUIRE(id);
    sent.emplace_back(*id, clock->wall_now());
  }
  DurableBroker b(dir.path(), clock);
  b.broker.declare_topic("orders", durable(Durability::none));
  auto consumer = b.broker.group_consumer("orders", "audit", {.start = Start::earliest});
  const auto records = drain(consumer);
  REQUIRE(records.size() == 4);
  CHECK(sent[1].first == sent[0].first + 1);  // the fallback re-uses the id it was given
  CHECK(sent[2].first == sent[1].first + 1);
  for (std::size_t i = 0; i < records.size(); ++i) {
    INFO("record " << i);
    const Record& r = records[i];
    CHECK(r.offset == i);
    CHECK(r.id() == sent[i].first);
    CHECK(r.timestamp() == sent[i].second);
    CHECK(r.payload().as_string() == numbered("order-", i));
    CHECK(r.key() == "customer-3");
    CHECK(r.message.group() == "g");
    CHECK(r.message.priority() == 4);
    Headers expected = headers;
    if (i == 3) expected = expected.with("stamped", "yes");
    CHECK(r.headers() == expected);
  }
}

TEST_CASE(
    "a record read back from a durable topic keeps its send's delay and ttl, as a memory "
    "topic's record does: forwarded to a queue, it is held back and expires as sent") {
  const Durability level = GENERATE(Durability::memory, Durability::none);
  INFO("topic durability " << static_cast<int>(level));
  ScratchDir dir;
  DurableBroker b(dir.path());
  b.broker.declare_topic("orders", durable(level));
  b.broker.declare_queue("delayed");
  b.broker.declare_queue("expiring");
  REQUIRE(b.producer.send("orders", "held", {.delay = std::chrono::minutes(1)}));
  REQUIRE(b.producer.send("orders", "short-lived", {.ttl = std::chrono::minutes(1)}));
  auto reader = b.broker.group_consumer("orders", "mover", {.start = Start::earliest});
  const auto records = drain(reader);
  REQUIRE(records.size() == 2);
  REQUIRE(b.producer.forward("delayed", records[0].message));
  REQUIRE(b.producer.forward("expiring", records[1].message));
  auto delayed = b.broker.consumer("delayed");
  auto expiring = b.broker.consumer("expiring");
  CHECK(delayed.receive().code() == Errc::timed_out);  // not before its delay
  b.clock->advance(std::chrono::minutes(2));
  auto held = delayed.receive();
  REQUIRE(held);
  CHECK(text(*held) == "held");
  CHECK(expiring.receive().code() == Errc::timed_out);  // its ttl ran out
}
