// The topic conformance suite: one set of behaviours, written once, run against every
// transport a topic can live on (as Watermill runs one suite against every adapter):
//   memory  — a topic of this process (TopicOptions{} )
//   durable — a topic of this process kept under a data directory (Durability::none)
//   kafka   — a topic on a Kafka cluster (librdkafka's mock cluster, in this process), when
//             the build has switchyard::kafka (SWITCHYARD_CONFORMANCE_KAFKA)
// Each transport declares its capabilities (switchyard/transport.hpp); a behaviour that needs
// one it lacks is skipped for it, and the suite checks that what it lacks is refused with a
// typed error instead.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/storage_support.hpp"
#include "switchyard/switchyard.hpp"
#include "switchyard/transport.hpp"
#ifdef SWITCHYARD_CONFORMANCE_KAFKA
#include "support/kafka_cluster.hpp"
#endif

using namespace switchyard;
using namespace std::chrono_literals;

namespace {

// --- the transports under test ----------------------------------------------------------

struct MemoryTopics {
  static constexpr bool kRestarts = false;  // nothing survives the broker
  Capabilities capabilities() const { return kLocalCapabilities; }
  std::unique_ptr<Broker> broker = std::make_unique<Broker>();
  Topic declare(const std::string& name, std::uint32_t partitions) {
    return broker->declare_topic(name, {.partitions = partitions});
  }
  void restart() {}
};

struct DurableTopics {
  static constexpr bool kRestarts = true;
  Capabilities capabilities() const { return kLocalCapabilities; }
  test::ScratchDir dir;
  std::unique_ptr<Broker> broker = make();
  std::unique_ptr<Broker> make() const {
    return std::make_unique<Broker>(BrokerOptions{.data_dir = dir.path()});
  }
  Topic declare(const std::string& name, std::uint32_t partitions) {
    return broker->declare_topic(name, {.partitions = partitions, .durability = Durability::none});
  }
  void restart() {
    broker.reset();
    broker = make();
  }
};

#ifdef SWITCHYARD_CONFORMANCE_KAFKA
struct KafkaTopics {
  static constexpr bool kRestarts = true;  // the cluster keeps records and commits
  Capabilities capabilities() const { return kafka.transport->capabilities(); }
  test::MockKafka kafka;
  std::unique_ptr<Broker> broker = std::make_unique<Broker>();
  std::set<std::string> created;
  Topic declare(const std::string& name, std::uint32_t partitions) {
    // The mock cluster of librdkafka 2.0.2 does not serve CreateTopics: made on it directly.
    if (created.insert(name).second) kafka.cluster.create_topic(name, static_cast<int>(partitions));
    return broker->declare_topic(name, {.partitions = partitions, .transport = kafka.transport});
  }
  void restart() {
    broker.reset();  // drains: every accepted record reaches the cluster first
    broker = std::make_unique<Broker>();
  }
};
#define SWITCHYARD_TRANSPORTS MemoryTopics, DurableTopics, KafkaTopics
#else
#define SWITCHYARD_TRANSPORTS MemoryTopics, DurableTopics
#endif

// --- helpers ------------------------------------------------------------------------------

/// Polls until `n` records came back in total or `budget` ran out; fails naming the count.
std::vector<Record> poll_until(GroupConsumer& member, std::size_t n,
                               std::chrono::seconds budget = 30s) {
  std::vector<Record> got;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto batch = member.poll(1000, 100ms);
    REQUIRE(batch);
    for (const Record& r : *batch) got.push_back(r);
  }
  INFO("polled " << got.size() << " of " << n << " records");
  REQUIRE(got.size() >= n);
  return got;
}

/// Polls (records kept in `got`) until the member owns a partition; a remote group's join
/// takes a rebalance.
/// Polls `member` (keeping what it gets in `got`) until it owns partitions, within `budget`.
/// Returns what went wrong, or "" — no Catch2 assertion, so a member's own thread may call it
/// (Catch2's assertions are not thread-safe).
std::string try_poll_until_assigned(GroupConsumer& member, std::vector<Record>& got,
                                    std::chrono::seconds budget = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (member.assignment().empty() && std::chrono::steady_clock::now() < deadline) {
    auto batch = member.poll(1000, 100ms);
    if (!batch) return "poll failed: " + batch.failure().message;
    for (const Record& r : *batch) got.push_back(r);
  }
  return member.assignment().empty() ? "no partitions assigned within the budget" : "";
}

/// Sends `n` records "<prefix><i>" with keys k0..k(keys-1) in turn; waits for every completion.
void send_all(Broker& broker, const std::string& topic, int n, int keys,
              const std::string& prefix = "r") {
  auto producer = broker.producer();
  std::atomic<int> completed{0}, failed{0};
  for (int i = 0; i < n; ++i) {
    // Appended, not `"k" + std::to_string(...)`: g++ 12's -Wrestrict false positive.
    std::string key = "k";
    key += std::to_string(i % keys);
    std::string payload = prefix;
    payload += std::to_string(i);
    REQUIRE(producer.send(topic, payload,
                          {.key = key, .on_complete = [&](const Result<SendReceipt>& r) {
                             if (!r) failed.fetch_add(1, std::memory_order_relaxed);
                             completed.fetch_add(1, std::memory_order_release);
                           }}));
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (completed.load(std::memory_order_acquire) < n &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();  // completions run on the transport's thread
  }
  REQUIRE(completed.load(std::memory_order_acquire) == n);
  REQUIRE(failed.load(std::memory_order_relaxed) == 0);
}

}  // namespace

TEMPLATE_TEST_CASE("records of one key come back in send order, from the key's partition",
                   "[conformance]", SWITCHYARD_TRANSPORTS) {
  TestType t;
  Topic topic = t.declare("ordered", 3);
  send_all(*t.broker, "ordered", 600, 5);
  auto member = t.broker->group_consumer("ordered", "g", {.start = Start::earliest});
  const auto records = poll_until(member, 600);
  std::map<std::string, int> last;  // key -> last index seen
  for (const Record& r : records) {
    const std::string key(r.key());
    CHECK(r.partition == topic.partition_for(key));
    const int i = std::stoi(std::string(r.payload().as_string().substr(1)));
    if (last.count(key)) CHECK(i > last[key]);
    last[key] = i;
  }
  CHECK(records.size() == 600);
}

TEMPLATE_TEST_CASE("with no failures, each record reaches a group once, shared by its members",
                   "[conformance]", SWITCHYARD_TRANSPORTS) {
  TestType t;
  (void)t.declare("shared", 4);
  constexpr int kRecords = 2000;
  auto a = t.broker->group_consumer("shared", "g", {.start = Start::earliest});
  auto b = t.broker->group_consumer("shared", "g", {.start = Start::earliest});
  std::vector<Record> got_a, got_b;
  // Both members own partitions before anything is sent (a remote join is a rebalance).
  std::atomic<int> assigned{0};
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> total{0};
  std::string error_a, error_b;  // a member thread's failure, checked on this thread
  auto run = [&](GroupConsumer& m, std::vector<Record>& got, std::string& error) {
    error = try_poll_until_assigned(m, got);
    assigned.fetch_add(1, std::memory_order_release);
    while (!stop.load(std::memory_order_acquire)) {
      auto batch = m.poll(1000, 50ms);
      if (!batch) break;
      for (const Record& r : *batch) got.push_back(r);
      total.fetch_add(batch->size(), std::memory_order_release);
    }
  };
  std::thread ta([&] { run(a, got_a, error_a); }), tb([&] { run(b, got_b, error_b); });
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (assigned.load(std::memory_order_acquire) < 2 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  // Wait until the two assignments are the final one: together they cover every partition.
  send_all(*t.broker, "shared", kRecords, 16);
  while (total.load(std::memory_order_acquire) < kRecords &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  stop.store(true, std::memory_order_release);
  ta.join();
  tb.join();
  CHECK(error_a == "");
  CHECK(error_b == "");
  std::set<std::string> seen;
  std::size_t duplicates = 0;
  for (const auto* got : {&got_a, &got_b}) {
    for (const Record& r : *got) {
      if (!seen.insert(std::string(r.payload().as_string())).second) ++duplicates;
    }
  }
  CHECK(seen.size() == kRecords);
  CHECK(duplicates == 0);
  CHECK_FALSE(got_a.empty());
  CHECK_FALSE(got_b.empty());
}

TEMPLATE_TEST_CASE(
    "a member that leaves hands its partitions on at the committed offset: "
    "nothing is lost, only the uncommitted is read again",
    "[conformance]", SWITCHYARD_TRANSPORTS) {
  TestType t;
  (void)t.declare("churn", 2);
  send_all(*t.broker, "churn", 400, 8);
  std::set<std::string> seen;
  {
    auto first = t.broker->group_consumer("churn", "g", {.start = Start::earliest});
    const auto records = poll_until(first, 100);
    // Commit only what it processed: the first 100 it got.
    for (std::size_t i = 0; i < 100; ++i)
      seen.insert(std::string(records[i].payload().as_string()));
    std::map<std::uint32_t, std::uint64_t> next;
    for (std::size_t i = 0; i < 100; ++i) next[records[i].partition] = records[i].offset + 1;
    for (auto [p, o] : next) REQUIRE(first.commit(p, o));
  }  // leaves
  auto second = t.broker->group_consumer("churn", "g", {.start = Start::earliest});
  const auto records = poll_until(second, 300);
  for (const Record& r : records) seen.insert(std::string(r.payload().as_string()));
  CHECK(seen.size() == 400);
  REQUIRE(second.commit());
}

TEMPLATE_TEST_CASE("commits survive a restart: a group resumes after what it committed",
                   "[conformance]", SWITCHYARD_TRANSPORTS) {
  if (!TestType::kRestarts) return;  // memory: nothing survives the broker, by design
  TestType t;
  (void)t.declare("restart", 1);
  send_all(*t.broker, "restart", 50, 1);
  {
    auto member = t.broker->group_consumer("restart", "g", {.start = Start::earliest});
    (void)poll_until(member, 50);
    REQUIRE(member.commit(0, 30));
  }
  t.restart();
  (void)t.declare("restart", 1);
  send_all(*t.broker, "restart", 10, 1, "s");
  auto member = t.broker->group_consumer("restart", "g", {.start = Start::earliest});
  const auto records = poll_until(member, 30);
  CHECK(records.front().offset == 30);
  CHECK(records.front().payload().as_string() == "r30");
  CHECK(records.back().payload().as_string() == "s9");
}

TEMPLATE_TEST_CASE("seek moves the next poll, pause stops a partition and resume restarts it",
                   "[conformance]", SWITCHYARD_TRANSPORTS) {
  TestType t;
  if (!t.capabilities().has(Capability::seek) || !t.capabilities().has(Capability::pause)) return;
  (void)t.declare("seek", 1);
  send_all(*t.broker, "seek", 10, 1);
  auto member = t.broker->group_consumer("seek", "g", {.start = Start::earliest});
  (void)poll_until(member, 10);
  CHECK(member.position(0).value() == 10);
  REQUIRE(member.seek(0, 4));
  auto again = poll_until(member, 6);
  CHECK(again.front().offset == 4);
  REQUIRE(member.pause(0));
  REQUIRE(member.seek(0, 0));
  auto paused = member.poll(100, 300ms);
  REQUIRE(paused);
  CHECK(paused->empty());
  REQUIRE(member.resume(0));
  auto resumed = poll_until(member, 10);
  CHECK(resumed.front().offset == 0);
  REQUIRE(member.commit());
  CHECK(member.committed(0).value() == 10);
  CHECK(member.lag(0).value() == 0);
}

TEMPLATE_TEST_CASE("headers and timestamps round trip", "[conformance]", SWITCHYARD_TRANSPORTS) {
  TestType t;
  (void)t.declare("meta", 1);
  auto producer = t.broker->producer();
  const auto before = std::chrono::system_clock::now() - 1s;
  REQUIRE(producer.send("meta", "x", {.key = "k", .headers = {{"a", "1"}, {"b", ""}}}));
  auto member = t.broker->group_consumer("meta", "g", {.start = Start::earliest});
  const auto records = poll_until(member, 1);
  const Record& r = records.front();
  if (t.capabilities().has(Capability::headers)) {
    CHECK(r.headers().get("a") == "1");
    CHECK(r.headers().get("b") == "");
  }
  if (t.capabilities().has(Capability::timestamps)) {
    CHECK(r.timestamp() >= before);
    CHECK(r.timestamp() <= std::chrono::system_clock::now() + 1s);
  }
  CHECK(r.key() == "k");
}

TEMPLATE_TEST_CASE("bad input is a typed error on every transport", "[conformance]",
                   SWITCHYARD_TRANSPORTS) {
  TestType t;
  (void)t.declare("errors", 2);
  auto producer = t.broker->producer();
  auto sent = producer.send("errors", "x", {.partition = 7});
  REQUIRE_FALSE(sent);
  CHECK(sent.error() == Errc::out_of_range);
  auto member = t.broker->group_consumer("errors", "g", {.start = Start::earliest});
  CHECK(member.commit(9, 0).code() == Errc::out_of_range);
  CHECK(member.seek(9, 0).code() == Errc::out_of_range);
  CHECK(member.lag(9).error() == Errc::out_of_range);
  // What a transport lacks is refused, not ignored.
  if (!t.capabilities().has(Capability::queue_subscriptions)) {
    t.broker->declare_queue("q");
    CHECK_THROWS_AS(t.broker->subscribe_queue("errors", "q"), Error);
  }
  if (!t.capabilities().has(Capability::start_offset)) {
    CHECK_THROWS_AS(t.broker->group_consumer("errors", "g2", {.start = Start::offset}), Error);
  }
}

TEMPLATE_TEST_CASE("a send's dedup_id deduplicates where the transport has dedup_ids, and is a "
                   "typed error where it has not", "[conformance]", SWITCHYARD_TRANSPORTS) {
  TestType t;
  (void)t.declare("dedup", 1);
  auto producer = t.broker->producer();
  std::atomic<int> completed{0};
  std::atomic<bool> duplicate{false};
  auto first = producer.send("dedup", "a", {.dedup_id = "order-7"});
  if (!t.capabilities().has(Capability::dedup_ids)) {
    REQUIRE_FALSE(first);
    CHECK(first.error() == Errc::invalid_argument);
    return;
  }
  REQUIRE(first);
  REQUIRE(producer.send("dedup", "a", {.dedup_id = "order-7",
                                       .on_complete = [&](const Result<SendReceipt>& r) {
                                         duplicate = r && r->duplicate;
                                         ++completed;
                                       }}));
  CHECK(completed.load() == 1);  // a local topic completes on the sending thread
  CHECK(duplicate.load());
}
