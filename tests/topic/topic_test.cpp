// Topic semantics (Kafka topics, SNS fan-out), one test case per promise, on a manual clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "util/murmur2.hpp"

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

std::string text(const Record& r) {
  return std::string(r.payload().as_string());
}

std::vector<std::string> texts(const PollBatch& batch) {
  std::vector<std::string> out;
  for (const auto& r : batch) out.push_back(text(r));
  return out;
}

/// Polls (timeout 0) until nothing more comes; returns every record.
std::vector<Record> drain(GroupConsumer& c, std::size_t max = 1000) {
  std::vector<Record> out;
  for (;;) {
    auto batch = c.poll(max);
    REQUIRE(batch);
    if (batch->empty() && batch->missed().empty()) return out;
    for (const auto& r : *batch) out.push_back(r);
  }
}

// Kafka's UtilsTest.testMurmur2 published vectors (the Java client's signed ints).
const std::vector<std::pair<std::string, std::int32_t>> kKafkaVectors = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};

std::uint32_t expected_partition(std::int32_t java_hash, std::uint32_t partitions) {
  return (static_cast<std::uint32_t>(java_hash) & 0x7fffffffu) % partitions;
}

}  // namespace

// --- partitioning ----------------------------------------------------------------------

TEST_CASE("murmur2 gives Kafka's published hashes for Kafka's test vectors") {
  for (const auto& [key, hash] : kKafkaVectors) {
    INFO(key);
    CHECK(static_cast<std::int32_t>(detail::murmur2(key)) == hash);
  }
}

TEST_CASE("a keyed record lands in the partition a Kafka client would choose") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("orders", {.partitions = 7});
  for (const auto& [key, hash] : kKafkaVectors) {
    INFO(key);
    std::uint32_t partition = 99;
    REQUIRE(t.producer.send("orders", "x",
                            {.key = key, .on_complete = [&](const Result<SendReceipt>& r) {
                               partition = r->partition;
                             }}));
    CHECK(partition == expected_partition(hash, 7));
    CHECK(topic.partition_for(key) == expected_partition(hash, 7));
  }
}

TEST_CASE("keyless records are spread round-robin over the partitions") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("events", {.partitions = 4});
  for (int i = 0; i < 40; ++i) REQUIRE(t.producer.send("events", "e"));
  for (const auto& p : topic.stats().partitions) CHECK(p.end_offset == 10);
}

TEST_CASE("an explicit partition overrides the key - and one out of range is refused by name") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("events", {.partitions = 3});
  REQUIRE(t.producer.send("events", "a", {.key = "foobar", .partition = 0}));
  CHECK(topic.stats().partitions[0].end_offset == 1);
  auto bad = t.producer.send("events", "b", {.partition = 3});
  CHECK(bad.code() == Errc::out_of_range);
  CHECK_THAT(bad.message(), Catch::Contains("events") && Catch::Contains("3 partitions"));
}

TEST_CASE("each partition numbers its records from offset 0 upwards") {
  ManualBroker t;
  t.broker.declare_topic("log", {.partitions = 2});
  std::vector<std::pair<std::uint32_t, std::uint64_t>> placed;
  for (int i = 0; i < 6; ++i) {
    REQUIRE(t.producer.send("log", "r",
                            {.partition = static_cast<std::uint32_t>(i % 2),
                             .on_complete = [&](const Result<SendReceipt>& r) {
                               placed.emplace_back(r->partition, r->offset);
                             }}));
  }
  CHECK(placed == std::vector<std::pair<std::uint32_t, std::uint64_t>>{
                      {0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}, {1, 2}});
}

// --- declare / look-up / bad input -----------------------------------------------------

TEST_CASE("declaring a topic twice with equal options is a no-op - with other options an error") {
  ManualBroker t;
  t.broker.declare_topic("t", {.partitions = 4});
  CHECK_NOTHROW(t.broker.declare_topic("t", {.partitions = 4}));
  {
    auto e = error_of([&] { t.broker.declare_topic("t", {.partitions = 8}); });
    REQUIRE(e);
    CHECK(e->code() == Errc::option_mismatch);
    CHECK_THAT(e->what(), Catch::Contains("'t'"));
  }
}

TEST_CASE("topics share one namespace with queues") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  t.broker.declare_topic("events");
  {
    auto e = error_of([&] { t.broker.declare_topic("jobs"); });
    REQUIRE(e);
    CHECK(e->code() == Errc::option_mismatch);
    CHECK_THAT(e->what(), Catch::Contains("queue"));
  }
  CHECK_THROWS_MATCHES(
      t.broker.declare_queue("events"), Error,
      Catch::Predicate<Error>([](const Error& e) { return e.code() == Errc::option_mismatch; }));
}

TEST_CASE("a topic with zero partitions or unbounded retention is refused") {
  ManualBroker t;
  {
    auto e = error_of([&] { t.broker.declare_topic("t", {.partitions = 0}); });
    REQUIRE(e);
    CHECK(e->code() == Errc::invalid_argument);
    CHECK_THAT(e->what(), Catch::Contains("partitions"));
  }
  {
    auto e =
        error_of([&] { t.broker.declare_topic("t", {.retention = {.records = 0, .bytes = 0}}); });
    REQUIRE(e);
    CHECK(e->code() == Errc::invalid_argument);
    CHECK_THAT(e->what(), Catch::Contains("retention"));
  }
}

TEST_CASE("looking up an unknown topic - or a queue as a topic - names what is wrong") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  {
    auto e = error_of([&] { (void)t.broker.topic("nope"); });
    REQUIRE(e);
    CHECK(e->code() == Errc::unknown_destination);
    CHECK_THAT(e->what(), Catch::Contains("nope"));
  }
  {
    auto e = error_of([&] { (void)t.broker.group_consumer("jobs", "g"); });
    REQUIRE(e);
    CHECK(e->code() == Errc::unknown_destination);
    CHECK_THAT(e->what(), Catch::Contains("is a queue, not a topic"));
  }
  CHECK(t.producer.send("nope", "x").code() == Errc::unknown_destination);
}

TEST_CASE("a payload over the topic's limit is refused") {
  ManualBroker t;
  t.broker.declare_topic("small", {.max_payload = 4});
  CHECK(t.producer.send("small", "12345").code() == Errc::payload_too_large);
  CHECK(t.producer.send("small", "1234"));
}

// --- consumer groups -------------------------------------------------------------------

TEST_CASE("a group member waits by its wait strategy for records and until its timeout") {
  for (auto strategy : {WaitStrategy::park, WaitStrategy::yield, WaitStrategy::spin}) {
    Broker broker;  // the system clock: the waits below are real
    broker.declare_topic("events", {.partitions = 2});
    auto member =
        broker.group_consumer("events", "g", {.start = Start::earliest, .wait = strategy});
    const auto start = std::chrono::steady_clock::now();
    auto none = member.poll(10, 20ms);
    REQUIRE(none);
    CHECK(none->empty());
    CHECK(std::chrono::steady_clock::now() - start >= 20ms);
    std::latch polling(1);
    std::atomic<bool> sent{false};
    std::thread sender([&] {
      auto producer = broker.producer();
      polling.wait();
      sent.store(static_cast<bool>(producer.send("events", "late")));
    });
    polling.count_down();
    auto got = member.poll(10, 20s);
    sender.join();
    REQUIRE(sent.load());
    REQUIRE(got);
    REQUIRE(got->size() == 1);
    CHECK(std::chrono::steady_clock::now() - start < 10s);
  }
}

TEST_CASE("every group sees every record") {
  ManualBroker t;
  t.broker.declare_topic("events", {.partitions = 3});
  auto billing = t.broker.group_consumer("events", "billing", {.start = Start::earliest});
  auto audit = t.broker.group_consumer("events", "audit", {.start = Start::earliest});
  for (int i = 0; i < 30; ++i) REQUIRE(t.producer.send("events", std::to_string(i)));
  CHECK(drain(billing).size() == 30);
  CHECK(drain(audit).size() == 30);
}

TEST_CASE("within a group each partition is owned by exactly one member - and members are told") {
  ManualBroker t;
  t.broker.declare_topic("events", {.partitions = 4});
  std::vector<std::uint32_t> a_assigned, a_revoked, b_assigned;
  auto a = t.broker.group_consumer(
      "events", "g",
      {.on_assigned = [&](auto ps) { a_assigned.insert(a_assigned.end(), ps.begin(), ps.end()); },
       .on_revoked = [&](auto ps) { a_revoked.insert(a_revoked.end(), ps.begin(), ps.end()); }});
  REQUIRE(a.poll(10));
  CHECK(a_assigned == std::vector<std::uint32_t>{0, 1, 2, 3});
  auto b = t.broker.group_consumer("events", "g", {.on_assigned = [&](auto ps) {
                                     b_assigned.insert(b_assigned.end(), ps.begin(), ps.end());
                                   }});
  REQUIRE(a.poll(10));
  REQUIRE(b.poll(10));
  CHECK(a.assignment().size() == 2);
  CHECK(b.assignment().size() == 2);
  CHECK(a_revoked == b_assigned);
  std::set<std::uint32_t> all;
  for (auto p : a.assignment()) all.insert(p);
  for (auto p : b.assignment()) CHECK(all.insert(p).second);
  CHECK(all.size() == 4);
}

TEST_CASE("records with the same key are consumed in append order") {
  ManualBroker t;
  t.broker.declare_topic("orders", {.partitions = 4});
  auto c = t.broker.group_consumer("orders", "g", {.start = Start::earliest});
  for (int i = 0; i < 50; ++i) {
    REQUIRE(
        t.producer.send("orders", std::to_string(i), {.key = "order-" + std::to_string(i % 5)}));
  }
  std::map<std::string, int> last;
  for (const auto& r : drain(c, 7)) {
    const int v = std::stoi(text(r));
    auto [it, fresh] = last.try_emplace(std::string(r.key()), v);
    if (!fresh) {
      CHECK(v > it->second);
      it->second = v;
    }
  }
  CHECK(last.size() == 5);
}

TEST_CASE("a new group starts at earliest - latest - a given offset - or a timestamp") {
  ManualBroker t;
  t.broker.declare_topic("log");
  for (int i = 0; i < 5; ++i) {
    REQUIRE(t.producer.send("log", std::to_string(i)));
    t.clock->advance(1s);
  }
  const Timestamp third = t.clock->wall_now() - 3s;  // record "2" was sent at now - 3s
  auto earliest = t.broker.group_consumer("log", "e", {.start = Start::earliest});
  auto latest = t.broker.group_consumer("log", "l", {.start = Start::latest});
  auto at_offset = t.broker.group_consumer("log", "o", {.start = Start::offset, .offset = 3});
  auto at_time = t.broker.group_consumer("log", "t", {.start = Start::timestamp, .time = third});
  REQUIRE(t.producer.send("log", "5"));
  CHECK(texts(*earliest.poll(100)) == std::vector<std::string>{"0", "1", "2", "3", "4", "5"});
  CHECK(texts(*latest.poll(100)) == std::vector<std::string>{"5"});
  CHECK(texts(*at_offset.poll(100)) == std::vector<std::string>{"3", "4", "5"});
  CHECK(texts(*at_time.poll(100)) == std::vector<std::string>{"2", "3", "4", "5"});
}

TEST_CASE("a group keeps its committed offsets when its members come and go") {
  ManualBroker t;
  t.broker.declare_topic("log");
  for (int i = 0; i < 4; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  {
    auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
    auto batch = c.poll(2);
    CHECK(texts(*batch) == std::vector<std::string>{"0", "1"});
    REQUIRE(c.commit());
  }
  // A later member's `start` is ignored: the group already exists.
  auto again = t.broker.group_consumer("log", "g", {.start = Start::latest});
  CHECK(texts(*again.poll(10)) == std::vector<std::string>{"2", "3"});
}

TEST_CASE("commit - committed and lag follow Kafka's next-offset convention") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("log", {.partitions = 2});
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 6; ++i) {
    REQUIRE(t.producer.send("log", "r", {.partition = static_cast<std::uint32_t>(i % 2)}));
  }
  CHECK(*c.lag(0) == 3);
  auto batch = c.poll(100);
  REQUIRE(batch->size() == 6);
  CHECK(*c.lag(0) == 3);  // nothing committed yet
  REQUIRE(c.commit(0, 2));
  CHECK(*c.committed(0) == 2);
  CHECK(*c.lag(0) == 1);
  REQUIRE(c.commit());
  CHECK(*c.lag(0) == 0);
  CHECK(*c.lag(1) == 0);
  const auto g = topic.group_stats("g");
  REQUIRE(g);
  CHECK(g->lag == 0);
  CHECK(g->partitions[1].committed == 3);
  CHECK(g->members == 1);
}

TEST_CASE("commit and seek refuse a partition the member does not own - or offsets past the end") {
  ManualBroker t;
  t.broker.declare_topic("log", {.partitions = 2});
  auto a = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  auto b = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  REQUIRE(a.poll(1));
  REQUIRE(b.poll(1));
  REQUIRE(a.assignment() == std::vector<std::uint32_t>{0});
  REQUIRE(t.producer.send("log", "r", {.partition = 0}));
  auto not_mine = a.commit(1, 0);
  CHECK(not_mine.code() == Errc::not_owner);
  CHECK_THAT(not_mine.message(), Catch::Contains("partition 1") && Catch::Contains("'g'"));
  CHECK(a.seek(1, 0).code() == Errc::not_owner);
  CHECK(a.pause(1).code() == Errc::not_owner);
  auto past = a.seek(0, 2);
  CHECK(past.code() == Errc::out_of_range);
  CHECK_THAT(past.message(), Catch::Contains("past the end (1)"));
  CHECK(a.commit(0, 2).code() == Errc::out_of_range);
  CHECK(a.seek(7, 0).code() == Errc::out_of_range);
  CHECK(a.lag(7).code() == Errc::out_of_range);
}

TEST_CASE("seek moves the next poll's position back or forward") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 5; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  CHECK(c.poll(100)->size() == 5);
  REQUIRE(c.seek(0, 1));
  CHECK(texts(*c.poll(2)) == std::vector<std::string>{"1", "2"});
  REQUIRE(c.seek(0, 5));
  CHECK(c.poll(100)->empty());
  CHECK(*c.position(0) == 5);
}

TEST_CASE("a paused partition returns nothing until resumed") {
  ManualBroker t;
  t.broker.declare_topic("log", {.partitions = 2});
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  REQUIRE(c.poll(1));
  REQUIRE(c.pause(1));
  REQUIRE(t.producer.send("log", "p0", {.partition = 0}));
  REQUIRE(t.producer.send("log", "p1", {.partition = 1}));
  CHECK(texts(*c.poll(100)) == std::vector<std::string>{"p0"});
  CHECK(c.poll(100)->empty());
  REQUIRE(c.resume(1));
  CHECK(texts(*c.poll(100)) == std::vector<std::string>{"p1"});
}

TEST_CASE("auto-commit commits what the previous poll returned - at the next poll") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest, .auto_commit = true});
  for (int i = 0; i < 5; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  CHECK(c.poll(3)->size() == 3);
  CHECK(*c.committed(0) == 0);  // not yet: the records may still be in processing
  CHECK(c.poll(1)->size() == 1);
  CHECK(*c.committed(0) == 3);
  c.close();  // closing commits too
  auto again = t.broker.group_consumer("log", "g");
  CHECK(texts(*again.poll(10)) == std::vector<std::string>{"4"});
}

// --- rebalance -------------------------------------------------------------------------

TEST_CASE("a member joining mid-stream loses no record and re-reads only the uncommitted tail") {
  ManualBroker t;
  t.broker.declare_topic("log", {.partitions = 4});
  auto a = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 40; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  std::multiset<std::string> seen;
  // a reads everything and commits after processing only its first batch.
  auto first = a.poll(16);
  for (const auto& r : *first) seen.insert(text(r));
  REQUIRE(a.commit());
  auto second = a.poll(100);  // read, processed, not committed
  for (const auto& r : *second) seen.insert(text(r));
  const std::size_t uncommitted = second->size();
  REQUIRE(seen.size() == 40);
  auto b = t.broker.group_consumer("log", "g");
  for (int i = 40; i < 60; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  for (auto* c : {&a, &b}) {
    for (const auto& r : drain(*c)) seen.insert(text(r));
  }
  std::set<std::string> unique(seen.begin(), seen.end());
  CHECK(unique.size() == 60);                         // nothing lost
  CHECK(seen.size() - unique.size() <= uncommitted);  // re-read only the uncommitted tail
  CHECK(a.assignment().size() == 2);
  CHECK(b.assignment().size() == 2);
}

TEST_CASE(
    "a member's commit for a partition it lost is refused and the new owner starts at the "
    "committed offset") {
  ManualBroker t;
  t.broker.declare_topic("log", {.partitions = 2});
  auto a = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 10; ++i) {
    REQUIRE(t.producer.send("log", std::to_string(i),
                            {.partition = static_cast<std::uint32_t>(i % 2)}));
  }
  REQUIRE(a.poll(100)->size() == 10);
  REQUIRE(a.commit(1, 2));
  auto b = t.broker.group_consumer("log", "g");
  REQUIRE(b.poll(0));  // b now owns partition 1
  REQUIRE(b.assignment() == std::vector<std::uint32_t>{1});
  auto lost = a.commit();  // a has not polled since: its view still includes partition 1
  CHECK(lost.code() == Errc::not_owner);
  CHECK(*a.committed(0) == 5);  // the partition it kept was committed
  CHECK(texts(*b.poll(100)) == std::vector<std::string>{"5", "7", "9"});
}

TEST_CASE("when a member leaves - the others take its partitions from the committed offsets") {
  ManualBroker t;
  t.broker.declare_topic("log", {.partitions = 2});
  auto a = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  auto b = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  REQUIRE(a.poll(0));
  REQUIRE(b.poll(0));
  for (int i = 0; i < 4; ++i) {
    REQUIRE(t.producer.send("log", std::to_string(i),
                            {.partition = static_cast<std::uint32_t>(i % 2)}));
  }
  CHECK(b.poll(100)->size() == 2);
  REQUIRE(b.commit());
  b.close();
  CHECK(b.poll(1).code() == Errc::closed);
  auto rest = drain(a);
  CHECK(rest.size() == 2);  // a's own partition; b's was fully committed
  CHECK(a.assignment().size() == 2);
}

// --- retention and the missed signal ---------------------------------------------------

TEST_CASE("retention by record count keeps the newest records and reports what a reader missed") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("log", {.retention = {.records = 10}});
  std::vector<Missed> told;
  auto c = t.broker.group_consumer(
      "log", "g",
      {.start = Start::earliest, .on_missed = [&](const Missed& m) { told.push_back(m); }});
  for (int i = 0; i < 25; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  const auto p = topic.stats().partitions[0];
  CHECK(p.start_offset == 15);
  CHECK(p.end_offset == 25);
  auto batch = c.poll(100);
  REQUIRE(batch);
  REQUIRE(batch->missed().size() == 1);
  CHECK(batch->missed()[0] == Missed{0, 0, 15});
  CHECK(batch->missed_count() == 15);
  CHECK(told == batch->missed());
  CHECK(batch->size() == 10);
  CHECK(text((*batch)[0]) == "15");
  CHECK(topic.stats().missed == 15);
  CHECK(topic.group_stats("g")->partitions[0].missed == 15);
}

TEST_CASE("a reader behind retention gets a gap-only batch when nothing is left after the gap") {
  ManualBroker t;
  t.broker.declare_topic("log", {.retention = {.records = 2, .age = 1min}});
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  t.clock->advance(2min);
  auto batch = c.poll(100);
  REQUIRE(batch);
  CHECK(batch->empty());
  CHECK(batch->missed_count() == 3);
  CHECK(c.poll(100)->missed().empty());  // told once
}

TEST_CASE("retention by bytes keeps at most that many key and payload bytes") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("log", {.retention = {.records = 0, .bytes = 100}});
  const std::string payload(10, 'x');
  for (int i = 0; i < 30; ++i) REQUIRE(t.producer.send("log", payload));
  const auto p = topic.stats().partitions[0];
  CHECK(p.bytes == 100);
  CHECK(p.end_offset - p.start_offset == 10);
  CHECK(p.appended_bytes == 300);
}

TEST_CASE("retention by age drops records older than the limit - by the broker's clock") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("log", {.retention = {.age = 1h}});
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("log", "old"));
  t.clock->advance(30min);
  for (int i = 0; i < 2; ++i) REQUIRE(t.producer.send("log", "new"));
  t.clock->advance(31min);
  CHECK(topic.stats().partitions[0].start_offset == 3);
  auto batch = c.poll(100);
  CHECK(batch->missed_count() == 3);
  CHECK(texts(*batch) == std::vector<std::string>{"new", "new"});
  t.clock->jump_wall(-24h);  // a wall-clock jump moves nothing
  CHECK(topic.stats().partitions[0].start_offset == 3);
}

TEST_CASE(
    "retention by age counts from the send - a forwarded record keeps its first send's time") {
  ManualBroker t;
  t.broker.declare_topic("in", {.retention = {.age = 24h}});
  auto topic = t.broker.declare_topic("out", {.retention = {.age = 1h}});
  auto in = t.broker.group_consumer("in", "g", {.start = Start::earliest});
  REQUIRE(t.producer.send("in", "old"));
  t.clock->advance(50min);
  auto batch = in.poll(10);
  REQUIRE(batch);
  REQUIRE(batch->size() == 1);
  REQUIRE(t.producer.forward("out", (*batch)[0].message));
  REQUIRE(t.producer.send("out", "new"));
  t.clock->advance(15min);  // "old" was sent 65 min ago, "new" 15 min ago
  const auto p = topic.stats().partitions[0];
  CHECK(p.start_offset == 1);
  CHECK(p.end_offset == 2);
}

TEST_CASE("a large retained log frees whole chunks and keeps offsets exact") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("log", {.retention = {.records = 5000}});
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 20'000; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  auto batch = c.poll(100'000);
  CHECK(batch->missed_count() == 15'000);
  REQUIRE(batch->size() == 5000);
  for (std::size_t i = 0; i < batch->size(); ++i) {
    if ((*batch)[i].offset != 15'000 + i || text((*batch)[i]) != std::to_string(15'000 + i)) {
      FAIL("record " << i << " is offset " << (*batch)[i].offset);
    }
  }
}

// --- batches ---------------------------------------------------------------------------

TEST_CASE("a poll into a kept batch replaces its contents - and keeps its storage") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  PollBatch batch;
  REQUIRE(c.poll(batch, 2));
  CHECK(texts(batch) == std::vector<std::string>{"0", "1"});
  const Record* storage = batch.records().data();
  REQUIRE(c.poll(batch, 2));
  CHECK(texts(batch) == std::vector<std::string>{"2"});
  CHECK(batch.records().data() == storage);
  REQUIRE(c.poll(batch, 2));
  CHECK(batch.empty());
  c.close();
  REQUIRE(t.producer.send("log", "late"));
  auto closed = c.poll(batch, 2);
  CHECK(closed.code() == Errc::closed);
  CHECK(batch.empty());
}

TEST_CASE("a destroyed batch's storage serves the next poll on the same thread") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 4; ++i) REQUIRE(t.producer.send("log", std::to_string(i)));
  const Record* storage = nullptr;
  {
    auto first = c.poll(2);
    REQUIRE(first);
    REQUIRE(first->size() == 2);
    storage = first->records().data();
  }
  auto second = c.poll(2);
  REQUIRE(second);
  CHECK(texts(*second) == std::vector<std::string>{"2", "3"});
  CHECK(second->records().data() == storage);
}

// --- waiting ---------------------------------------------------------------------------

TEST_CASE("a long poll returns as soon as a record arrives") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g");
  std::atomic<bool> got{false};
  std::thread poller([&] {
    auto batch = c.poll(10, 24h);  // manual time never reaches the deadline
    got.store(batch && batch->size() == 1);
  });
  REQUIRE(t.producer.send("log", "wake"));
  poller.join();
  CHECK(got.load());
}

TEST_CASE("a poll that times out returns an empty batch - not an error") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g");
  std::atomic<int> outcome{-1};
  std::thread poller([&] {
    auto batch = c.poll(10, 5s);
    outcome.store(batch ? static_cast<int>(batch->size()) : -2);
  });
  REQUIRE(eventually([&] {
    t.clock->advance(1s);
    return outcome.load() != -1;
  }));
  poller.join();
  CHECK(outcome.load() == 0);
}

TEST_CASE("wakeup makes a blocked poll return at once") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g");
  std::atomic<bool> returned{false};
  std::thread poller([&] {
    (void)c.poll(10, 24h);
    returned.store(true);
  });
  REQUIRE(eventually([&] {
    c.wakeup();
    return returned.load();
  }));
  poller.join();
}

// Kafka's wakeup: "if no thread is blocking in a method which can throw WakeupException, the
// next call to such a method will raise it instead" — so a stop flag set with a wakeup just
// before a thread enters its poll still ends that poll (Mirror::stop relies on it).
TEST_CASE("a wakeup before the poll makes the next poll return at once") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g");
  c.wakeup();
  std::atomic<bool> returned{false};
  std::thread poller([&] {
    (void)c.poll(10, 24h);
    returned.store(true);
  });
  const bool at_once = eventually([&] { return returned.load(); });
  if (!at_once) c.wakeup();  // release the poll: fail, do not hang
  poller.join();
  CHECK(at_once);
}

// --- close and delete ------------------------------------------------------------------

TEST_CASE("polls after close - after the topic is deleted - and after shutdown return closed") {
  ManualBroker t;
  t.broker.declare_topic("log");
  auto c = t.broker.group_consumer("log", "g");
  auto d = t.broker.group_consumer("log", "h");
  c.close();
  CHECK(c.poll(1).code() == Errc::closed);
  std::atomic<int> code{-1};
  std::thread poller([&] { code.store(static_cast<int>(d.poll(10, 24h).code())); });
  t.broker.delete_topic("log");
  poller.join();
  CHECK(code.load() == static_cast<int>(Errc::closed));
  CHECK(d.poll(1).code() == Errc::closed);
  CHECK(t.producer.send("log", "x").code() == Errc::unknown_destination);
  CHECK_FALSE(t.broker.contains("log"));
}

TEST_CASE("deleting a topic with group members under if_unused is refused") {
  ManualBroker t;
  t.broker.declare_topic("log");
  REQUIRE(t.producer.send("log", "x"));
  {
    auto c = t.broker.group_consumer("log", "g");
    try {
      t.broker.delete_topic("log", {.if_unused = true});
      FAIL("expected in_use");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::in_use);
    }
  }
  CHECK_THROWS_AS(t.broker.delete_topic("log", {.if_empty = true}), Error);
  CHECK_NOTHROW(t.broker.delete_topic("log", {.if_unused = true}));
  CHECK_THROWS_AS(t.broker.delete_topic("log"), Error);
}

TEST_CASE("the mission example reads records by the batch and commits") {
  ManualBroker t;
  t.broker.declare_topic("order-events", {.partitions = 4});
  auto inventory =
      t.broker.group_consumer("order-events", "inventory-service", {.start = Start::earliest});
  for (int i = 0; i < 10; ++i)
    REQUIRE(t.producer.send("order-events", "e", {.key = std::to_string(i)}));
  int handled = 0;
  auto batch = inventory.poll(100, 50ms);
  REQUIRE(batch);
  for (auto& record : *batch) handled += record.payload().as_string() == "e";
  REQUIRE(inventory.commit());
  CHECK(handled == 10);
}

// --- SNS-style fan-out -----------------------------------------------------------------

TEST_CASE("a subscribed queue gets its own copy of every later record - sharing the payload") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("orders", {.partitions = 2});
  REQUIRE(t.producer.send("orders", "before"));
  auto q = t.broker.declare_queue("billing");
  t.broker.subscribe_queue("orders", "billing");
  CHECK_NOTHROW(t.broker.subscribe_queue("orders", "billing"));  // idempotent
  auto c = t.broker.group_consumer("orders", "g", {.start = Start::latest});
  REQUIRE(t.producer.send("orders", "after", {.key = "k"}));
  auto consumer = t.broker.consumer("billing");
  auto d = consumer.receive();
  REQUIRE(d);
  CHECK(text(*d) == "after");
  auto batch = c.poll(10);
  REQUIRE(batch->size() == 1);
  CHECK((*batch)[0].payload().bytes().data() == d->payload().bytes().data());  // no copy
  CHECK(consumer.receive().code() == Errc::timed_out);
  CHECK(topic.stats().fanned_out == 1);
  CHECK(topic.stats().subscriptions == 1);
}

TEST_CASE("a subscription's header filter lets through only records with every given value") {
  ManualBroker t;
  t.broker.declare_topic("orders");
  t.broker.declare_queue("eu-created");
  t.broker.subscribe_queue("orders", "eu-created", {{"type", "OrderCreated"}, {"region", "eu"}});
  REQUIRE(
      t.producer.send("orders", "1", {.headers = {{"type", "OrderCreated"}, {"region", "eu"}}}));
  REQUIRE(
      t.producer.send("orders", "2", {.headers = {{"type", "OrderCreated"}, {"region", "us"}}}));
  REQUIRE(
      t.producer.send("orders", "3", {.headers = {{"type", "OrderCancelled"}, {"region", "eu"}}}));
  REQUIRE(t.producer.send("orders", "4",
                          {.headers = {{"region", "eu"}, {"type", "OrderCreated"}, {"x", "y"}}}));
  CHECK(t.broker.queue("eu-created").depth() == 2);
  CHECK_THROWS_AS(t.broker.subscribe_queue("orders", "eu-created", {{"type", "Other"}}), Error);
}

TEST_CASE(
    "a subscription's filter means what a binding filter means: x-match any - the same message "
    "goes to both") {
  ManualBroker t;
  t.broker.declare_topic("orders");
  t.broker.declare_queue("by-topic");
  t.broker.declare_queue("by-exchange");
  t.broker.declare_exchange("events", ExchangeType::fanout);
  const Headers filter{{"x-match", "any"}, {"type", "OrderCreated"}, {"region", "eu"}};
  t.broker.subscribe_queue("orders", "by-topic", filter);
  t.broker.bind("events", "by-exchange", "", {.arguments = filter});
  for (const char* region : {"eu", "us"}) {
    const Headers headers{{"type", "OrderCancelled"}, {"region", region}};
    REQUIRE(t.producer.send("orders", region, {.headers = headers}));
    REQUIRE(t.producer.publish("events", "", region, {.headers = headers}));
  }
  CHECK(t.broker.queue("by-exchange").depth() == 1);  // region=eu matches one pair of "any"
  CHECK(t.broker.queue("by-topic").depth() == 1);
  CHECK_THROWS_AS(t.broker.subscribe_queue("orders", "by-topic", {{"x-match", "some"}}), Error);
}

TEST_CASE("a fanned-out copy has full queue semantics: nack - retry and dead letter") {
  ManualBroker t;
  t.broker.declare_topic("orders");
  t.broker.declare_queue("dlq");
  t.broker.declare_queue("work", {.max_deliveries = 2, .dead_letter = "dlq"});
  t.broker.subscribe_queue("orders", "work");
  REQUIRE(t.producer.send("orders", "poison"));
  auto c = t.broker.consumer("work");
  REQUIRE(c.receive()->nack());
  auto second = c.receive();
  REQUIRE(second);
  CHECK(second->attempt() == 2);
  REQUIRE(second->nack());
  auto dlq_consumer = t.broker.consumer("dlq");
  auto dead = dlq_consumer.receive();
  REQUIRE(dead);
  CHECK(text(*dead) == "poison");
}

TEST_CASE(
    "a full subscribed queue refuses its copy - which is counted - and the topic still appends") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("orders");
  t.broker.declare_queue("tiny", {.capacity = 2, .overflow = Overflow::reject});
  t.broker.subscribe_queue("orders", "tiny");
  for (int i = 0; i < 5; ++i) REQUIRE(t.producer.send("orders", std::to_string(i)));
  const auto s = topic.stats();
  CHECK(s.appended == 5);
  CHECK(s.fanned_out == 2);
  CHECK(s.fan_out_failed == 3);
  CHECK(t.broker.queue("tiny").stats().rejected_full == 3);
}

TEST_CASE("after unsubscribing - a queue gets no more copies - unknown subscriptions are errors") {
  ManualBroker t;
  t.broker.declare_topic("orders");
  t.broker.declare_queue("q");
  t.broker.subscribe_queue("orders", "q");
  REQUIRE(t.producer.send("orders", "1"));
  t.broker.unsubscribe_queue("orders", "q");
  REQUIRE(t.producer.send("orders", "2"));
  CHECK(t.broker.queue("q").depth() == 1);
  CHECK_THROWS_AS(t.broker.unsubscribe_queue("orders", "q"), Error);
  CHECK_THROWS_AS(t.broker.subscribe_queue("orders", "nope"), Error);
  CHECK_THROWS_AS(t.broker.subscribe_queue("nope", "q"), Error);
}

// --- stats -----------------------------------------------------------------------------

TEST_CASE("topic stats count records and bytes per partition") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("log", {.partitions = 2});
  REQUIRE(t.producer.send("log", "abcd", {.key = "k", .partition = 1}));
  REQUIRE(t.producer.send("log", "ef", {.partition = 1}));
  const auto s = topic.stats();
  CHECK(s.appended == 2);
  CHECK(s.retained == 2);
  CHECK(s.bytes == 7);
  REQUIRE(s.partitions.size() == 2);
  CHECK(s.partitions[0].end_offset == 0);
  CHECK(s.partitions[1].end_offset == 2);
  CHECK(s.partitions[1].bytes == 7);
}

TEST_CASE("a member whose partition went away and came back cannot commit its stale position") {
  ManualBroker t;
  t.broker.declare_topic("log", {.partitions = 2});
  auto a = t.broker.group_consumer("log", "g", {.start = Start::earliest});
  for (int i = 0; i < 10; ++i) {
    REQUIRE(t.producer.send("log", std::to_string(i),
                            {.partition = static_cast<std::uint32_t>(i % 2)}));
  }
  REQUIRE(a.poll(100)->size() == 10);  // a's position on partition 1 is 5, uncommitted
  {
    auto b = t.broker.group_consumer("log", "g");
    REQUIRE(b.poll(2)->size() == 2);  // b took partition 1 and read offsets 0 and 1
    REQUIRE(b.commit());
  }  // b leaves: partition 1 returns to a, under a new epoch
  CHECK(a.commit().code() == Errc::not_owner);  // a's view of partition 1 is from before
  CHECK(*a.committed(1) == 2);                  // b's commit stands
  auto again = a.poll(100);                     // a catches up: resumes at the committed offset
  CHECK(texts(*again) == std::vector<std::string>{"5", "7", "9"});
}
