// Mirror: every record of a topic reaches the destination at least once, in partition order,
// and the source group's offsets move only past records whose send completed — whatever fails
// and wherever the mirror is stopped. (Mirrors to and from a Kafka topic are in
// tests/transport/kafka_topic_test.cpp.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "support/test_support.hpp"
#include "switchyard/mirror.hpp"
#include "switchyard/switchyard.hpp"
#include "switchyard/testing.hpp"

using namespace switchyard;
using namespace switchyard::test;
using namespace std::chrono_literals;

namespace {

constexpr int kRecords = 300;

/// `kRecords` records "<key>:<n>" over four keys, on `topic`.
void send_records(Broker& broker, const std::string& topic, int from = 0, int to = kRecords) {
  auto producer = broker.producer();
  for (int i = from; i < to; ++i) {
    const std::string key = fmt::format("k{}", i % 4);
    REQUIRE(producer.send(topic, fmt::format("{}:{}", key, i), {.key = key}));
  }
}

/// Receives (and acks) everything `queue` holds now.
std::vector<std::string> drain(Broker& broker, const std::string& queue) {
  auto consumer = broker.consumer(queue);
  std::vector<std::string> out;
  while (auto d = consumer.receive(0s)) {
    out.emplace_back(d->message().payload().as_string());
    REQUIRE(d->ack());
  }
  return out;
}

/// Records the group has not committed past, over every partition of `topic` (without joining
/// the group: a member would take partitions from the mirror's). UINT64_MAX: no group yet.
std::uint64_t uncommitted(Broker& broker, const std::string& topic, const std::string& group) {
  const auto stats = broker.topic(topic).group_stats(group);
  return stats ? stats->lag : UINT64_MAX;
}

}  // namespace

TEST_CASE(
    "a mirror forwards every record of a topic to a queue in partition order and commits "
    "past them",
    "[mirror]") {
  Broker broker;
  broker.declare_topic("orders", {.partitions = 2});
  auto out = broker.declare_queue("out");
  send_records(broker, "orders");
  Mirror mirror(broker, "orders", "out");
  REQUIRE(eventually([&] { return out.depth() == kRecords; }));
  REQUIRE(eventually(
      [&] { return mirror.stats().commits > 0 && mirror.stats().mirrored == kRecords; }));
  mirror.stop();
  CHECK(mirror.stats().failed == 0);
  CHECK(uncommitted(broker, "orders", "mirror:orders->out") == 0);
  // Per key (one partition each), the queue holds the records in the order they were sent.
  std::map<std::string, std::vector<int>> by_key;
  for (const std::string& m : drain(broker, "out")) {
    by_key[m.substr(0, m.find(':'))].push_back(std::stoi(m.substr(m.find(':') + 1)));
  }
  REQUIRE(by_key.size() == 4);
  for (const auto& [key, ns] : by_key) {
    INFO(key);
    CHECK(std::is_sorted(ns.begin(), ns.end()));
    CHECK(ns.size() == kRecords / 4);
  }
}

TEST_CASE("a mirror tries a failed send again: nothing is skipped, the failures are counted",
          "[mirror]") {
  auto faults = std::make_shared<testing::SendFaults>(/*seed=*/3);
  Broker broker({.interceptors = {faults}});
  broker.declare_topic("orders", {.partitions = 2});
  broker.declare_queue("out");
  faults->inject({.kind = testing::FaultKind::fail_send,
                  .queue = "out",
                  .every = 7,
                  .at_most = 5,
                  .error = Errc::io_error});
  send_records(broker, "orders");
  Mirror mirror(broker, "orders", "out", {.retry_delay = 1ms});
  REQUIRE(eventually([&] { return uncommitted(broker, "orders", "mirror:orders->out") == 0; }));
  mirror.stop();
  const MirrorStats stats = mirror.stats();
  CHECK(stats.failed == 5);
  CHECK(stats.last_error.find("fault injected") != std::string::npos);
  const auto got = drain(broker, "out");
  CHECK(std::set<std::string>(got.begin(), got.end()).size() == kRecords);  // every one
  CHECK(got.size() == stats.mirrored);  // sent again after a failure: twice, never lost
}

TEST_CASE("a mirror stopped midway and started again resumes at what it committed", "[mirror]") {
  Broker broker;
  broker.declare_topic("orders", {.partitions = 2});
  auto out = broker.declare_queue("out");
  send_records(broker, "orders", 0, kRecords / 2);
  {
    Mirror first(broker, "orders", "out");
    REQUIRE(eventually([&] { return out.depth() == kRecords / 2; }));
  }  // stopped: the rest arrives while no mirror runs
  send_records(broker, "orders", kRecords / 2, kRecords);
  Mirror second(broker, "orders", "out");
  REQUIRE(eventually([&] { return uncommitted(broker, "orders", "mirror:orders->out") == 0; }));
  second.stop();
  const auto got = drain(broker, "out");
  CHECK(std::set<std::string>(got.begin(), got.end()).size() == kRecords);
  CHECK(got.size() == kRecords);  // a clean stop commits what it mirrored: nothing twice
}

TEST_CASE("a mirror refuses what it cannot do: typed errors at construction", "[mirror]") {
  Broker broker;
  broker.declare_topic("orders");
  broker.declare_queue("out");
  CHECK_THROWS_MATCHES(Mirror(broker, "nope", "out"), Error,
                       Catch::Predicate<Error>(
                           [](const Error& e) { return e.code() == Errc::unknown_destination; }));
  CHECK_THROWS_MATCHES(Mirror(broker, "orders", "nowhere"), Error,
                       Catch::Predicate<Error>(
                           [](const Error& e) { return e.code() == Errc::unknown_destination; }));
  CHECK_THROWS_MATCHES(
      Mirror(broker, "orders", "out", {.batch = 0}), Error,
      Catch::Predicate<Error>([](const Error& e) { return e.code() == Errc::invalid_argument; }));
}

TEST_CASE("a mirror ends when its source topic goes, and its stop still returns", "[mirror]") {
  Broker broker;
  broker.declare_topic("orders");
  auto out = broker.declare_queue("out");
  Mirror mirror(broker, "orders", "out");
  send_records(broker, "orders", 0, 10);
  REQUIRE(eventually([&] { return out.depth() == 10; }));
  broker.delete_topic("orders");
  mirror.stop();  // joins a thread that ended (closed) or is ending
  CHECK(mirror.stats().mirrored == 10);
}
