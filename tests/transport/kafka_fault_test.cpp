// Faults on a Kafka-backed topic (librdkafka's mock cluster, in this process): injected
// produce errors, a broker down and back, a leader change, a record over the size limit, a
// full producer buffer, member churn during production, a draining shutdown. Each checks the
// accounting — accepted, acknowledged, consumed, duplicates, lost = 0 — and prints it.
#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/figures.hpp"
#include "support/kafka_cluster.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::test::MockKafka;

namespace {

constexpr int kProduceApi = 0;  // Kafka's Produce request

/// Counts completions of sends: acknowledged, failed (by code).
struct Completions {
  std::atomic<int> ok{0}, failed{0};
  std::mutex mutex;
  std::map<Errc, int> codes;
  std::function<void(const Result<SendReceipt>&)> callback() {
    return [this](const Result<SendReceipt>& r) {
      if (r) {
        ok.fetch_add(1, std::memory_order_release);
      } else {
        std::lock_guard lock(mutex);
        ++codes[r.failure().code];
        failed.fetch_add(1, std::memory_order_release);
      }
    };
  }
  int done() const {
    return ok.load(std::memory_order_acquire) + failed.load(std::memory_order_acquire);
  }
  /// Waits (bounded) until `n` sends completed; fails naming how many did.
  void wait_for(int n, std::chrono::seconds budget = 60s) const {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (done() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    INFO("completed " << done() << " of " << n);
    REQUIRE(done() == n);
  }
};

/// Reads partition-wide every record of `topic` as group `group` until `n` distinct payloads
/// arrived; returns payload -> times seen.
std::map<std::string, int> consume(Broker& broker, const std::string& topic, std::size_t n,
                                   const std::string& group = "check") {
  std::map<std::string, int> seen;
  auto member = broker.group_consumer(topic, group, {.start = Start::earliest});
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (seen.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto batch = member.poll(5000, 200ms);
    REQUIRE(batch);
    for (const Record& r : *batch) ++seen[std::string(r.payload().as_string())];
  }
  // Anything more (a duplicate after the last new one) arrives within one more poll.
  auto tail = member.poll(5000, 500ms);
  REQUIRE(tail);
  for (const Record& r : *tail) ++seen[std::string(r.payload().as_string())];
  return seen;
}

int duplicates(const std::map<std::string, int>& seen) {
  int d = 0;
  for (const auto& [payload, times] : seen) d += times - 1;
  return d;
}

}  // namespace

TEST_CASE(
    "100,000 records round trip through a Kafka topic, with injected produce errors "
    "retried without duplicates") {
  MockKafka kafka;
  kafka.cluster.create_topic("bulk", 4);
  Completions completions;  // before the broker: its close completes what it still holds
  Broker broker;
  broker.declare_topic("bulk", {.partitions = 4, .transport = kafka.transport});
  // Retriable: the idempotent producer resends, the cluster deduplicates by sequence number.
  kafka.cluster.push_request_errors(kProduceApi, 5, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
  kafka.cluster.push_request_errors(kProduceApi, 3, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  constexpr int kRecords = 100'000;
  auto producer = broker.producer();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRecords; ++i) {
    REQUIRE(producer.send("bulk", std::to_string(i),
                          {.key = std::to_string(i % 97), .on_complete = completions.callback()}));
  }
  completions.wait_for(kRecords);
  CHECK(completions.ok.load() == kRecords);
  const auto seen = consume(broker, "bulk", kRecords);
  const double seconds = test::seconds_since(start);
  CHECK(seen.size() == kRecords);
  CHECK(duplicates(seen) == 0);
  test::print_figures("kafka bulk round trip",
                      {{"records/s", kRecords / seconds},
                       {"injected produce errors", 8},
                       {"accepted", kRecords},
                       {"acknowledged", completions.ok.load()},
                       {"consumed", static_cast<double>(seen.size())},
                       {"duplicates", duplicates(seen)},
                       {"lost", kRecords - static_cast<double>(seen.size())}});
}

TEST_CASE("a broker taken down and brought back loses nothing and duplicates nothing") {
  MockKafka kafka;
  kafka.cluster.create_topic("down", 1);
  kafka.cluster.set_leader("down", 0, 1);
  Completions completions;
  Broker broker;
  broker.declare_topic("down", {.partitions = 1, .transport = kafka.transport});
  auto producer = broker.producer();
  constexpr int kRecords = 2000;
  for (int i = 0; i < kRecords / 2; ++i) {
    REQUIRE(producer.send("down", std::to_string(i), {.on_complete = completions.callback()}));
  }
  kafka.cluster.set_broker_down(1);  // the partition's leader
  for (int i = kRecords / 2; i < kRecords; ++i) {
    REQUIRE(producer.send("down", std::to_string(i), {.on_complete = completions.callback()}));
  }
  kafka.cluster.set_broker_up(1);
  completions.wait_for(kRecords);
  CHECK(completions.ok.load() == kRecords);
  const auto seen = consume(broker, "down", kRecords);
  CHECK(seen.size() == kRecords);
  CHECK(duplicates(seen) == 0);
  test::print_figures("kafka broker down/up",
                      {{"broker downs", 1},
                       {"accepted", kRecords},
                       {"acknowledged", completions.ok.load()},
                       {"duplicates", duplicates(seen)},
                       {"lost", kRecords - static_cast<double>(seen.size())}});
}

TEST_CASE("a leader change during production keeps every record, in order") {
  MockKafka kafka;
  kafka.cluster.create_topic("leader", 1);
  kafka.cluster.set_leader("leader", 0, 1);
  Completions completions;
  Broker broker;
  broker.declare_topic("leader", {.partitions = 1, .transport = kafka.transport});
  auto producer = broker.producer();
  constexpr int kRecords = 2000;
  for (int i = 0; i < kRecords; ++i) {
    if (i == kRecords / 2) kafka.cluster.set_leader("leader", 0, 2);
    REQUIRE(producer.send("leader", std::to_string(i), {.on_complete = completions.callback()}));
  }
  completions.wait_for(kRecords);
  CHECK(completions.ok.load() == kRecords);
  auto member = broker.group_consumer("leader", "g", {.start = Start::earliest});
  std::vector<int> order;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (order.size() < kRecords && std::chrono::steady_clock::now() < deadline) {
    auto batch = member.poll(5000, 200ms);
    REQUIRE(batch);
    for (const Record& r : *batch) order.push_back(std::stoi(std::string(r.payload().as_string())));
  }
  REQUIRE(order.size() == kRecords);
  for (int i = 0; i < kRecords; ++i) REQUIRE(order[i] == i);
}

TEST_CASE(
    "a record over the cluster's size limit is payload_too_large, and so is one over the "
    "topic's max_payload") {
  MockKafka kafka;
  kafka.cluster.create_topic("big", 1);
  auto options = test::mock_kafka_options(kafka.cluster);
  options.properties.emplace("producer.message.max.bytes", "10000");
  auto transport = kafka::connect(options);
  kafka.cluster.create_topic("small", 1);
  Completions completions;
  Broker broker;
  broker.declare_topic("big", {.partitions = 1, .transport = transport});
  broker.declare_topic("small", {.max_payload = 100, .transport = kafka.transport});
  auto producer = broker.producer();
  auto sent = producer.send("big", std::string(20'000, 'x'));
  REQUIRE_FALSE(sent);
  CHECK(sent.error() == Errc::payload_too_large);
  auto local = producer.send("small", std::string(101, 'x'));
  REQUIRE_FALSE(local);
  CHECK(local.error() == Errc::payload_too_large);
  REQUIRE(producer.send("big", std::string(5'000, 'x'), {.on_complete = completions.callback()}));
  completions.wait_for(1);
  CHECK(completions.ok.load() == 1);
}

TEST_CASE(
    "while the cluster is unreachable a full producer buffer rejects or blocks as the "
    "overflow policy says, and what it accepted is delivered once it is back") {
  MockKafka kafka(1);
  kafka.cluster.create_topic("buffer", 1);
  auto options = test::mock_kafka_options(kafka.cluster);
  options.properties.emplace("producer.queue.buffering.max.messages", "10");
  auto reject_options = options;
  reject_options.overflow = Overflow::reject;
  auto block_options = options;
  block_options.overflow = Overflow::block;
  block_options.send_timeout = 200ms;
  Completions completions;
  Broker broker;
  broker.declare_topic("buffer", {.transport = kafka::connect(reject_options)});
  Broker blocking;  // declared while the cluster is up (a declare asks it for the topic)
  blocking.declare_topic("buffer", {.transport = kafka::connect(block_options)});
  kafka.cluster.set_broker_down(1);
  auto producer = broker.producer();
  int accepted = 0, full = 0;
  for (int i = 0; i < 30; ++i) {
    auto sent = producer.send("buffer", std::to_string(i), {.on_complete = completions.callback()});
    if (sent) {
      ++accepted;
    } else {
      CHECK(sent.error() == Errc::full);
      ++full;
    }
  }
  CHECK(accepted == 10);
  CHECK(full == 20);
  {
    auto p = blocking.producer();
    for (int i = 0; i < 10; ++i) REQUIRE(p.send("buffer", "b"));
    const auto before = std::chrono::steady_clock::now();
    auto sent = p.send("buffer", "b");
    REQUIRE_FALSE(sent);
    CHECK(sent.error() == Errc::full);
    CHECK(std::chrono::steady_clock::now() - before >= 200ms);
  }
  kafka.cluster.set_broker_up(1);
  // Every send completes once: the refused ones at once (full), the accepted once delivered.
  completions.wait_for(accepted + full);
  CHECK(completions.ok.load() == accepted);
  std::lock_guard lock(completions.mutex);
  CHECK(completions.codes[Errc::full] == full);
}

TEST_CASE("members joining and leaving during production lose nothing") {
  MockKafka kafka;
  kafka.cluster.create_topic("churn", 4);
  Completions completions;
  Broker broker;
  broker.declare_topic("churn", {.partitions = 4, .transport = kafka.transport});
  constexpr int kRecords = 20'000;
  std::atomic<bool> produced{false};
  std::thread producer_thread([&] {
    auto producer = broker.producer();
    for (int i = 0; i < kRecords; ++i) {
      REQUIRE(
          producer.send("churn", std::to_string(i),
                        {.key = std::to_string(i % 31), .on_complete = completions.callback()}));
      if (i % 1000 == 0) std::this_thread::yield();
    }
    produced.store(true, std::memory_order_release);
  });
  std::mutex seen_mutex;
  std::map<std::string, int> seen;
  // One member at a time processes and commits; a second joins, then the first leaves.
  auto run = [&](GroupConsumer& member, std::atomic<bool>& stop) {
    while (!stop.load(std::memory_order_acquire)) {
      auto batch = member.poll(500, 100ms);
      REQUIRE(batch);
      {
        std::lock_guard lock(seen_mutex);
        for (const Record& r : *batch) ++seen[std::string(r.payload().as_string())];
      }
      if (!batch->empty()) {
        const Status committed = member.commit();
        CHECK((committed || committed.code() == Errc::not_owner));
      }
    }
  };
  auto distinct = [&] {
    std::lock_guard lock(seen_mutex);
    return seen.size();
  };
  auto wait = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    REQUIRE(done());
  };
  std::atomic<bool> stop_a{false}, stop_b{false};
  auto a = broker.group_consumer("churn", "g", {.start = Start::earliest});
  std::thread ta([&] { run(a, stop_a); });
  wait([&] { return distinct() > 2000; });
  auto b = broker.group_consumer("churn", "g", {.start = Start::earliest});
  std::thread tb([&] { run(b, stop_b); });
  wait([&] { return distinct() > 8000; });
  stop_a.store(true, std::memory_order_release);
  ta.join();
  a.close();  // leaves: its partitions move to b at the committed offsets
  wait([&] { return produced.load(std::memory_order_acquire) && distinct() >= kRecords; });
  stop_b.store(true, std::memory_order_release);
  tb.join();
  producer_thread.join();
  completions.wait_for(kRecords);
  CHECK(distinct() == kRecords);
  test::print_figures("kafka member churn", {{"joins", 2},
                                             {"leaves", 1},
                                             {"accepted", kRecords},
                                             {"consumed", static_cast<double>(distinct())},
                                             {"redelivered", duplicates(seen)},
                                             {"lost", kRecords - static_cast<double>(distinct())}});
}

TEST_CASE("a draining shutdown hands the cluster everything accepted before it returns") {
  MockKafka kafka;
  kafka.cluster.create_topic("drain", 2);
  Completions completions;
  constexpr int kRecords = 10'000;
  {
    Broker broker;
    broker.declare_topic("drain", {.partitions = 2, .transport = kafka.transport});
    auto producer = broker.producer();
    for (int i = 0; i < kRecords; ++i) {
      REQUIRE(producer.send("drain", std::to_string(i), {.on_complete = completions.callback()}));
    }
    CHECK(broker.shutdown(Shutdown::drain));
    CHECK(completions.done() == kRecords);
  }
  CHECK(completions.ok.load() == kRecords);
}

TEST_CASE("a record no broker takes within the delivery timeout completes with timed_out") {
  MockKafka kafka(1);
  kafka.cluster.create_topic("late", 1);
  auto options = test::mock_kafka_options(kafka.cluster);
  options.delivery_timeout = 1s;
  Completions completions;
  Broker broker;
  broker.declare_topic("late", {.transport = kafka::connect(options)});
  kafka.cluster.set_broker_down(1);
  REQUIRE(broker.producer().send("late", "x", {.on_complete = completions.callback()}));
  completions.wait_for(1, 30s);
  std::lock_guard lock(completions.mutex);
  CHECK(completions.codes[Errc::timed_out] == 1);
}
