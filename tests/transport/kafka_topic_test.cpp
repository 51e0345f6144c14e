// A topic that lives on Kafka (librdkafka's mock cluster, in this process): produce, consume
// in a group, commit, and the typed errors at declare. The behaviours every transport shares
// are in tests/transport/conformance/; the faults in kafka_fault_test.cpp.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <librdkafka/rdkafka.h>

#include <atomic>

#include "support/kafka_cluster.hpp"
#include "support/test_support.hpp"
#include "switchyard/mirror.hpp"
#include "switchyard/switchyard.hpp"
#include "switchyard/testing.hpp"
#include "switchyard/transport.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::test::MockKafka;

namespace {

/// Polls `member` until `n` records came back or `budget` ran out (then the test fails with
/// what it got).
std::vector<Record> poll_until(GroupConsumer& member, std::size_t n,
                               std::chrono::seconds budget = 30s) {
  std::vector<Record> got;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto batch = member.poll(1000, 200ms);
    REQUIRE(batch);
    for (const Record& r : *batch) got.push_back(r);
  }
  INFO("polled " << got.size() << " of " << n << " records");
  REQUIRE(got.size() >= n);
  return got;
}

}  // namespace

TEST_CASE(
    "a record sent to a Kafka topic comes back with its key, headers, timestamp and "
    "payload, and its completion names the partition, the offset and replicated") {
  MockKafka kafka;
  kafka.cluster.create_topic("orders", 3);
  Broker broker;
  broker.declare_topic("orders", {.partitions = 3, .transport = kafka.transport});
  auto producer = broker.producer();
  std::promise<Result<SendReceipt>> completed;
  REQUIRE(producer.send(
      "orders", "hello",
      {.key = "order-7",
       .headers = {{"trace", "abc"}},
       .on_complete = [&](const Result<SendReceipt>& r) { completed.set_value(r); }}));
  auto done = completed.get_future();
  REQUIRE(done.wait_for(30s) == std::future_status::ready);
  const Result<SendReceipt> receipt = done.get();
  REQUIRE(receipt);
  CHECK(receipt->persisted == Persisted::replicated);
  CHECK(receipt->offset == 0);
  CHECK(receipt->partition == broker.topic("orders").partition_for("order-7"));

  auto member = broker.group_consumer("orders", "billing", {.start = Start::earliest});
  const auto records = poll_until(member, 1);
  const Record& r = records.front();
  CHECK(r.key() == "order-7");
  CHECK(r.payload().as_string() == "hello");
  CHECK(r.headers().get("trace") == "abc");
  CHECK(r.partition == receipt->partition);
  CHECK(r.offset == 0);
  const auto age = std::chrono::system_clock::now() - r.timestamp();
  CHECK(age < 60s);
  CHECK(age > -60s);
  REQUIRE(member.commit());
  CHECK(member.committed(r.partition).value() == 1);
  CHECK(member.lag(r.partition).value() == 0);
}

TEST_CASE("a typed payload goes to Kafka as its Codec's bytes and comes back as the object") {
  struct Order {
    std::uint32_t id;
    double total;
  };
  MockKafka kafka;
  kafka.cluster.create_topic("orders", 1);
  Broker broker;
  broker.declare_topic("orders", {.partitions = 1, .transport = kafka.transport});
  auto producer = broker.producer();
  REQUIRE(producer.send("orders", object(Order{42, 9.5}), {.key = "order-42"}));
  auto member = broker.group_consumer("orders", "billing", {.start = Start::earliest});
  const auto records = poll_until(member, 1);
  const Record& r = records.front();
  CHECK(r.payload().size() == sizeof(Order));  // the codec's bytes crossed the wire
  const Result<Order> order = r.message.get<Order>();
  REQUIRE(order);
  CHECK(order->id == 42);
  CHECK(order->total == 9.5);
}

// The test kit's Recorder hears a Kafka group's commits as it hears an in-memory group's
// (on_commit): what the cluster confirmed, a synchronous commit when it returned, an
// auto-commit when its result came back to a later poll.
TEST_CASE("a Kafka group's commits reach the interceptors once the cluster took them") {
  MockKafka kafka;
  kafka.cluster.create_topic("orders", 1);
  auto recorder = std::make_shared<switchyard::testing::Recorder>();
  Broker broker({.interceptors = {recorder}});
  broker.declare_topic("orders", {.partitions = 1, .transport = kafka.transport});
  auto producer = broker.producer();
  for (const char* o : {"o1", "o2", "o3"}) REQUIRE(producer.send("orders", o));
  auto offsets = [&](std::string_view group) {
    std::vector<std::uint64_t> out;
    for (const auto& e : recorder->committed("orders", group)) out.push_back(e.offset);
    return out;
  };
  {
    auto member = broker.group_consumer("orders", "billing", {.start = Start::earliest});
    (void)poll_until(member, 3);
    REQUIRE(member.commit());
    CHECK(offsets("billing") == std::vector<std::uint64_t>{3});
    REQUIRE(member.commit(0, 1));
    CHECK(offsets("billing") == std::vector<std::uint64_t>{3, 1});
  }
  auto member =
      broker.group_consumer("orders", "audit", {.start = Start::earliest, .auto_commit = true});
  (void)poll_until(member, 3);  // (its polls may have auto-committed a part already)
  auto last = [&] { return offsets("audit").empty() ? 0 : offsets("audit").back(); };
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (last() != 3 && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(member.poll(10, 100ms));  // commits what came before, serves the commit's result
  }
  CHECK(last() == 3);
  const auto audit = offsets("audit");
  CHECK(std::is_sorted(audit.begin(), audit.end()));
}

// The outbox and the migration: a local topic mirrored to Kafka, and that Kafka topic mirrored
// back into a local queue — every record arrives, with its key and headers, and each mirror's
// group is committed past what it mirrored (include/switchyard/mirror.hpp).
TEST_CASE("a mirror carries a local topic to Kafka and a Kafka topic into a local queue") {
  MockKafka kafka;
  kafka.cluster.create_topic("orders-out", 2);
  Broker broker;
  broker.declare_topic("orders", {.partitions = 2});
  broker.declare_topic("orders-out", {.partitions = 2, .transport = kafka.transport});
  auto back = broker.declare_queue("orders-back");
  auto producer = broker.producer();
  constexpr int kRecords = 200;
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = i % 2 == 0 ? "even" : "odd";
    REQUIRE(producer.send("orders", std::to_string(i), {.key = key, .headers = {{"n", "x"}}}));
  }
  Mirror outbox(broker, "orders", "orders-out");
  Mirror inbox(broker, "orders-out", "orders-back");
  const bool arrived = switchyard::test::eventually([&] { return back.depth() == kRecords; }, 60s);
  INFO("outbox: " << outbox.stats().last_error << "; inbox: " << inbox.stats().last_error);
  REQUIRE(arrived);
  outbox.stop();
  inbox.stop();
  CHECK(outbox.stats().failed == 0);
  CHECK(inbox.stats().failed == 0);
  CHECK(broker.topic("orders").group_stats("mirror:orders->orders-out")->lag == 0);
  auto consumer = broker.consumer("orders-back");
  std::set<std::string> payloads;
  while (auto d = consumer.receive(0s)) {
    CHECK(d->message().headers().get("n") == "x");
    const int n = std::stoi(std::string(d->message().payload().as_string()));
    CHECK(d->message().key() == (n % 2 == 0 ? "even" : "odd"));
    payloads.insert(std::string(d->message().payload().as_string()));
    REQUIRE(d->ack());
  }
  CHECK(payloads.size() == kRecords);
}

TEST_CASE("what Kafka cannot carry is a typed error at declare and at join") {
  MockKafka kafka;
  Broker broker;
  auto declare = [&](TopicOptions o) {
    o.transport = kafka.transport;
    broker.declare_topic("t", o);
  };
  auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return Errc::ok;
  };
  CHECK(code_of([&] { declare({.durability = Durability::always}); }) == Errc::invalid_argument);
  CHECK(code_of([&] { declare({.retention = {.records = 10}}); }) == Errc::invalid_argument);
  kafka.cluster.create_topic("t", 2);
  declare({.partitions = 2});
  CHECK(code_of([&] { declare({.partitions = 3}); }) == Errc::option_mismatch);
  CHECK(code_of([&] { broker.declare_topic("t", {.partitions = 2}); }) == Errc::option_mismatch);
  CHECK(code_of([&] { broker.subscribe_queue("t", "q"); }) != Errc::ok);
  CHECK(code_of([&] {
          (void)broker.group_consumer("t", "g", {.start = Start::offset, .offset = 3});
        }) == Errc::invalid_argument);
  CHECK(code_of([&] { (void)kafka::connect({}); }) == Errc::invalid_argument);
  CHECK(code_of([&] {
          (void)kafka::connect(
              {.bootstrap_servers = "x:1", .properties = {{"no.such.property", "1"}}});
        }) == Errc::invalid_argument);
  CHECK(code_of([&] {
          (void)kafka::connect({.bootstrap_servers = "x:1", .overflow = Overflow::drop_oldest});
        }) == Errc::invalid_argument);
  CHECK(kafka.transport->capabilities().has(Capability::seek));
  CHECK_FALSE(kafka.transport->capabilities().has(Capability::queue_subscriptions));
}

TEST_CASE("a topic that exists on the cluster with another partition count is option_mismatch") {
  MockKafka kafka;
  kafka.cluster.create_topic("existing", 4);
  Broker broker;
  try {
    broker.declare_topic("existing", {.partitions = 2, .transport = kafka.transport});
    FAIL("declared");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::option_mismatch);
  }
  CHECK(broker.declare_topic("existing", {.partitions = 4, .transport = kafka.transport})
            .partitions() == 4);
}

TEST_CASE("a key lands on the partition Kafka's own partitioner picks for it") {
  MockKafka kafka;
  kafka.cluster.create_topic("keys", 7);
  Broker broker;
  Topic topic = broker.declare_topic("keys", {.partitions = 7, .transport = kafka.transport});
  // librdkafka's murmur2_random partitioner is the Java client's default for keyed records.
  char error[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", kafka.cluster.bootstrap_servers().c_str(),
                            error, sizeof error) == RD_KAFKA_CONF_OK);
  REQUIRE(rd_kafka_conf_set(conf, "partitioner", "murmur2_random", error, sizeof error) ==
          RD_KAFKA_CONF_OK);
  rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  REQUIRE(raw != nullptr);
  // rd_kafka_produce, not rd_kafka_producev: producev's argument macros are GNU statement
  // expressions, an error under clang's -Wpedantic -Werror (the asan preset). The partitioner set
  // above is the default topic configuration rd_kafka_topic_new takes.
  rd_kafka_topic_t* keys_topic = rd_kafka_topic_new(raw, "keys", nullptr);
  REQUIRE(keys_topic != nullptr);
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "customer-" + std::to_string(i * 7919);
    REQUIRE(rd_kafka_produce(keys_topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                             const_cast<char*>("v"), 1, key.data(), key.size(), nullptr) == 0);
  }
  REQUIRE(rd_kafka_flush(raw, 30'000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_destroy(keys_topic);
  rd_kafka_destroy(raw);
  // And switchyard's producer puts the same keys where its partition_for says.
  auto producer = broker.producer();
  std::atomic<int> mismatched{0}, completed{0};
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "customer-" + std::to_string(i * 7919);
    const std::uint32_t expected = topic.partition_for(key);
    REQUIRE(producer.send("keys", "s", {.key = key, .on_complete = [&, expected](const auto& r) {
                                          if (!r || r->partition != expected) ++mismatched;
                                          ++completed;
                                        }}));
  }
  auto member = broker.group_consumer("keys", "g", {.start = Start::earliest});
  const auto records = poll_until(member, 2 * kKeys);
  int wrong = 0;
  for (const Record& r : records) {
    if (r.partition != topic.partition_for(r.key())) ++wrong;
  }
  CHECK(wrong == 0);
  CHECK(completed.load() == kKeys);
  CHECK(mismatched.load() == 0);
}

TEST_CASE(
    "rebalance callbacks fire at the member's next poll, and with auto_commit what a "
    "member polled is committed before its partitions move") {
  MockKafka kafka;
  kafka.cluster.create_topic("moves", 2);
  Broker broker;
  broker.declare_topic("moves", {.partitions = 2, .transport = kafka.transport});
  auto producer = broker.producer();
  for (int i = 0; i < 100; ++i) {
    REQUIRE(producer.send("moves", std::to_string(i), {.partition = std::uint32_t(i % 2)}));
  }
  // Each callback's partitions, one entry per call: the group may rebalance more than once while
  // b joins (a JoinGroup that first asks for a member id is a second round), so the test pins
  // what each round must do, not how many rounds there are.
  std::vector<std::uint32_t> assigned_a;
  std::vector<std::vector<std::uint32_t>> revoked_a, assigned_b;
  auto a = broker.group_consumer(
      "moves", "g",
      {.start = Start::earliest,
       .auto_commit = true,
       .on_assigned = [&](auto ps) { assigned_a.insert(assigned_a.end(), ps.begin(), ps.end()); },
       .on_revoked = [&](auto ps) { revoked_a.emplace_back(ps.begin(), ps.end()); }});
  CHECK(assigned_a.empty());  // nothing before a poll
  (void)poll_until(a, 100);
  CHECK(assigned_a.size() == 2);
  // b joins; both poll (one thread drives both: members are thread-compatible) until b owns a
  // partition. a's next poll (or its revoke) commits what it read; b reads none of it again.
  auto b = broker.group_consumer("moves", "g",
                                 {.start = Start::earliest, .on_assigned = [&](auto ps) {
                                    assigned_b.emplace_back(ps.begin(), ps.end());
                                  }});
  std::size_t b_read = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((b.assignment().empty() || a.assignment().empty()) &&
         std::chrono::steady_clock::now() < deadline) {
    auto from_a = a.poll(100, 50ms);
    REQUIRE(from_a);
    auto from_b = b.poll(100, 50ms);
    REQUIRE(from_b);
    b_read += from_b->size();
  }
  REQUIRE_FALSE(b.assignment().empty());
  REQUIRE_FALSE(revoked_a.empty());
  CHECK(revoked_a.front().size() == 2);  // eager: everything a held is revoked, then re-shared
  REQUIRE_FALSE(assigned_b.empty());
  CHECK(assigned_b.back().size() == 1);
  CHECK(a.assignment().size() + b.assignment().size() == 2);
  auto more = b.poll(100, 500ms);
  REQUIRE(more);
  CHECK(b_read + more->size() == 0);
}

namespace {

/// The bridge stats of `topic` in `broker.stats()` (the test fails when there are none).
RemoteTopicStats remote_stats_of(const Broker& broker, const std::string& topic) {
  for (const RemoteTopicStats& s : broker.stats().remote_topics) {
    if (s.name == topic) return s;
  }
  FAIL("no remote_topics entry for '" << topic << "'");
  return {};
}

/// Waits (bounded) until `ok(stats)` holds; fails with `what` and the last stats seen.
template <class Pred>
RemoteTopicStats wait_for_stats(const Broker& broker, const std::string& topic, Pred ok,
                                const char* what, std::chrono::seconds budget = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  RemoteTopicStats s = remote_stats_of(broker, topic);
  while (!ok(s) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // a poll interval, not a wait for a thread to finish
    s = remote_stats_of(broker, topic);
  }
  INFO(what << ": produced " << s.produced << " delivered " << s.delivered << " failed "
            << s.failed << " retried " << s.retried << " rebalances " << s.rebalances
            << " errors " << s.errors << " connection " << to_string(s.connection)
            << " last_error '" << s.last_error << "' lag entries " << s.lag.size());
  REQUIRE(ok(s));
  return s;
}

}  // namespace

TEST_CASE(
    "the bridge's stats and metrics count produced, delivered, failed, retried, rebalances, "
    "a member's lag and the connection, and report a cluster going down") {
  MockKafka kafka(1);
  kafka.cluster.create_topic("bridge", 1);
  auto options = test::mock_kafka_options(kafka.cluster);
  options.properties["producer.statistics.interval.ms"] = "100";
  std::atomic<int> completed{0};
  Broker broker;
  broker.declare_topic("bridge", {.transport = kafka::connect(options)});
  CHECK(remote_stats_of(broker, "bridge").connection == ConnectionState::up);  // metadata came
  // Retriable: the producer resends them (librdkafka's txretries).
  kafka.cluster.push_request_errors(0 /* Produce */, 2, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
  auto producer = broker.producer();
  for (int i = 0; i < 100; ++i) {
    REQUIRE(producer.send("bridge", std::to_string(i),
                          {.on_complete = [&](const Result<SendReceipt>&) { ++completed; }}));
  }
  // Over the client's message.max.bytes (1 MB): refused by librdkafka at the send.
  const auto refused = producer.send("bridge", std::string(2 << 20, 'x'));
  REQUIRE_FALSE(refused);
  CHECK(refused.failure().code == Errc::payload_too_large);

  auto s = wait_for_stats(
      broker, "bridge",
      [&](const RemoteTopicStats& r) { return r.delivered == 100 && r.retried > 0; },
      "all 100 acknowledged, with retries counted");
  CHECK(s.transport == "kafka");
  CHECK(s.produced == 100);
  CHECK(s.failed == 1);
  CHECK(s.in_flight_bytes == 0);
  CHECK(s.connection == ConnectionState::up);

  {
    auto member = broker.group_consumer("bridge", "audit", {.start = Start::earliest});
    std::size_t read = 0;
    const auto read_by = std::chrono::steady_clock::now() + 30s;
    while (read < 10 && std::chrono::steady_clock::now() < read_by) {  // exactly 10: lag 90
      auto batch = member.poll(10 - read, 200ms);
      REQUIRE(batch);
      read += batch->size();
    }
    REQUIRE(read == 10);
    // Polls of nothing publish the member's lag (at most every 100 ms).
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      REQUIRE(member.poll(0, 10ms));
      const auto r = remote_stats_of(broker, "bridge");
      if (!r.lag.empty() && r.lag[0].lag == 90) break;
    }
    s = remote_stats_of(broker, "bridge");
    REQUIRE(s.lag.size() == 1);
    CHECK(s.lag[0] == RemotePartitionLag{.group = "audit", .partition = 0, .lag = 90});
    CHECK(s.rebalances >= 1);

    const std::string text = broker.metrics();
    INFO(text);
    const std::string labels = "{topic=\"bridge\",transport=\"kafka\"";
    CHECK(text.find("switchyard_remote_topic_produced_total" + labels + "} 100\n") !=
          std::string::npos);
    CHECK(text.find("switchyard_remote_topic_delivered_total" + labels + "} 100\n") !=
          std::string::npos);
    CHECK(text.find("switchyard_remote_topic_failed_total" + labels + "} 1\n") !=
          std::string::npos);
    CHECK(text.find("switchyard_remote_topic_connection" + labels + ",state=\"up\"} 1\n") !=
          std::string::npos);
    CHECK(text.find("switchyard_remote_topic_partition_lag" + labels +
                    ",group=\"audit\",partition=\"0\"} 90\n") != std::string::npos);
    CHECK(to_json(broker.stats()).find("\"remote_topics\":[{\"name\":\"bridge\"") !=
          std::string::npos);
    // The new families pass the exposition-format lint as the others do (stats_test).
    const std::string file = "/tmp/kafka_bridge_metrics_" + std::to_string(::getpid()) + ".txt";
    std::ofstream(file) << text;
    FILE* pipe = ::popen(("/usr/bin/promtool check metrics < '" + file + "' 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string lint;
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) lint += buffer;
    const int status = ::pclose(pipe);
    std::remove(file.c_str());
    INFO("promtool said:\n" << lint);
    CHECK(status == 0);
    CHECK(lint.empty());
  }
  // The member closed: its revocation counted, its lag gone.
  s = remote_stats_of(broker, "bridge");
  CHECK(s.lag.empty());
  CHECK(s.rebalances >= 2);

  // Every broker down: the client's error is counted, kept and the connection is down.
  kafka.cluster.set_broker_down(1);
  s = wait_for_stats(
      broker, "bridge",
      [](const RemoteTopicStats& r) { return r.connection == ConnectionState::down; },
      "the connection down once the only broker is", 30s);
  CHECK(s.errors >= 1);
  CHECK_FALSE(s.last_error.empty());
  kafka.cluster.set_broker_up(1);
}

TEST_CASE(
    "a compacted Kafka topic refuses a keyless send, and a tombstone round trips as Kafka's "
    "null value") {
  MockKafka kafka(1);
  kafka.cluster.create_topic("profiles", 1);  // 2.0.2's mock serves no CreateTopics
  Broker broker;
  broker.declare_topic("profiles", {.cleanup = Cleanup::compact, .transport = kafka.transport});
  auto producer = broker.producer();
  const auto keyless = producer.send("profiles", "x");
  REQUIRE_FALSE(keyless);
  CHECK(keyless.error() == Errc::invalid_argument);
  std::atomic<int> acked{0};
  auto count = [&](const Result<SendReceipt>& r) {
    if (r) ++acked;
  };
  REQUIRE(producer.send("profiles", "alice v1", {.key = "alice", .on_complete = count}));
  REQUIRE(producer.send("profiles", "",
                        {.key = "alice",
                         .headers = {{std::string(kTombstoneHeader), ""}, {"why", "gdpr"}},
                         .on_complete = count}));
  REQUIRE(producer.send("profiles", "", {.key = "bob", .on_complete = count}));  // not one
  auto member = broker.group_consumer("profiles", "view", {.start = Start::earliest});
  const auto got = poll_until(member, 3);
  REQUIRE(got.size() == 3);
  CHECK(acked.load() == 3);
  CHECK(got[0].payload().as_string() == "alice v1");
  CHECK_FALSE(got[0].headers().find(kTombstoneHeader).has_value());
  // The tombstone: empty, marked, its other headers kept.
  CHECK(got[1].key() == "alice");
  CHECK(got[1].payload().as_string().empty());
  CHECK(got[1].headers().find(kTombstoneHeader).has_value());
  CHECK(got[1].headers().find("why") == std::optional<std::string_view>("gdpr"));
  // An empty payload without the mark stays an empty value, not a null one.
  CHECK(got[2].key() == "bob");
  CHECK(got[2].payload().as_string().empty());
  CHECK_FALSE(got[2].headers().find(kTombstoneHeader).has_value());
}
