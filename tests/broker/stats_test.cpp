// Broker::stats(): the broker-wide snapshot, its JSON form and its Prometheus form — every new
// counter moves when its event happens, in memory and on disk; the JSON parses back to the same
// values; metrics() keeps every series it had and passes `promtool check metrics`.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <latch>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "storage/segment_format.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace switchyard::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

/// The bucket of `LatencyHistogram::kBoundsNs` whose bound is `ns` exactly.
std::size_t bucket_with_bound(std::uint64_t ns) {
  for (std::size_t i = 0; i < LatencyHistogram::kBoundsNs.size(); ++i) {
    if (LatencyHistogram::kBoundsNs[i] == ns) return i;
  }
  FAIL("no bucket bound of " << ns << " ns");
  return 0;
}

/// Segment files under `dir`, all destinations and partitions.
std::uint64_t segment_files_under(const fs::path& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".seg") ++n;
  }
  return n;
}

/// A broker with every kind of destination, each with some traffic: two queues (one fed by an
/// exchange), a topic with a group and a queue subscribed, a channel and a pattern subscription.
struct EveryKind {
  ManualBroker t;
  std::atomic<int> heard{0};
  Subscription channel;
  Subscription pattern;
  GroupConsumer member;

  EveryKind() {
    t.broker.declare_queue("jobs");
    t.broker.declare_queue("we\"ird\\name\n");
    t.broker.declare_exchange("events", ExchangeType::fanout);
    t.broker.bind("events", "jobs");
    t.broker.declare_topic("orders", {.partitions = 2});
    t.broker.declare_queue("audit");
    t.broker.subscribe_queue("orders", "audit");
    member = t.broker.group_consumer("orders", "billing", {.start = Start::earliest});
    channel = t.broker.subscribe("news", [this](const Message&) { heard.fetch_add(1); });
    pattern = t.broker.psubscribe("n*", [this](const Message&) { heard.fetch_add(1); });
    REQUIRE(t.producer.send("events", "x"));
    REQUIRE(t.producer.send("jobs", "y"));
    for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("orders", "o", {.key = "k"}));
    t.clock->advance(std::chrono::milliseconds(3));
    auto c = t.broker.consumer("jobs");
    auto d = c.receive();
    REQUIRE(d);
    REQUIRE(d->ack());
    REQUIRE(t.broker.publish("news", "hello") == 2);
    REQUIRE(eventually([&] { return heard.load() == 2; }));
  }
};

}  // namespace

TEST_CASE("a queue counts each message's age at delivery in its histogram") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  REQUIRE(t.producer.send("jobs", "a"));
  t.clock->advance(std::chrono::milliseconds(3));  // 3 ms: in the (2.5 ms, 5 ms] bucket
  REQUIRE(t.producer.send("jobs", "b"));
  auto consumer = t.broker.consumer("jobs");
  auto first = consumer.receive();
  auto second = consumer.receive();
  REQUIRE(first);
  REQUIRE(second);

  const LatencyHistogram age = t.broker.queue("jobs").stats().delivery_age;
  CHECK(age.count() == 2);
  CHECK(age.counts[0] == 1);  // "b", received the moment it was sent
  CHECK(age.counts[bucket_with_bound(5'000'000)] == 1);
  CHECK(age.sum_ns == 3'000'000);

  const std::string text = t.broker.metrics();
  CHECK(contains(text, "# TYPE switchyard_queue_delivery_age_seconds histogram\n"));
  CHECK(contains(text,
                 "switchyard_queue_delivery_age_seconds_bucket{queue=\"jobs\",le=\"0.0025\"} 1\n"));
  CHECK(contains(text,
                 "switchyard_queue_delivery_age_seconds_bucket{queue=\"jobs\",le=\"0.005\"} 2\n"));
  CHECK(contains(text,
                 "switchyard_queue_delivery_age_seconds_bucket{queue=\"jobs\",le=\"+Inf\"} 2\n"));
  CHECK(contains(text, "switchyard_queue_delivery_age_seconds_sum{queue=\"jobs\"} 0.003\n"));
  CHECK(contains(text, "switchyard_queue_delivery_age_seconds_count{queue=\"jobs\"} 2\n"));
}

TEST_CASE(
    "delivery ages counted by single receives stay in the histogram after the consumer closes") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  // One age in each of the first five buckets (25, 50, 100, 250, 500 us): the first four are
  // counted in the consumer's slots, the fifth in the queue's recorder.
  const std::int64_t ages_us[] = {10, 40, 90, 200, 400};
  {
    auto consumer = t.broker.consumer("jobs");
    for (std::int64_t us : ages_us) {
      REQUIRE(t.producer.send("jobs", "x"));
      t.clock->advance(std::chrono::microseconds(us));
      auto d = consumer.receive();
      REQUIRE(d);
      REQUIRE(d->ack());
    }
    const LatencyHistogram open = t.broker.queue("jobs").stats().delivery_age;
    CHECK(open.count() == 5);
    for (std::size_t i = 0; i < 5; ++i) CHECK(open.counts[i] == 1);
    CHECK(open.sum_ns == 740'000);
  }
  const LatencyHistogram closed = t.broker.queue("jobs").stats().delivery_age;
  CHECK(closed.count() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(closed.counts[i] == 1);
  CHECK(closed.sum_ns == 740'000);
}

TEST_CASE("a redelivery is counted again, at its age since the send") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  REQUIRE(t.producer.send("jobs", "a"));
  auto consumer = t.broker.consumer("jobs");
  {
    auto d = consumer.receive();
    REQUIRE(d);
    REQUIRE(d->nack());  // back to the queue
  }
  t.clock->advance(std::chrono::seconds(2));
  REQUIRE(consumer.receive());
  const LatencyHistogram age = t.broker.queue("jobs").stats().delivery_age;
  CHECK(age.count() == 2);
  CHECK(age.counts[bucket_with_bound(2'500'000'000)] == 1);
}

/// A latch opened once (opening it again does nothing).
class Gate {
 public:
  void open() {
    if (!open_.exchange(true)) latch_.count_down();
  }
  void wait() { latch_.wait(); }

 private:
  std::latch latch_{1};
  std::atomic<bool> open_{false};
};

TEST_CASE("a message dropped by a full subscriber buffer is counted for that subscription only") {
  ManualBroker t;
  Gate entered;
  std::atomic<int> slow_calls{0};
  std::atomic<int> fast_calls{0};
  auto fast = t.broker.psubscribe("n*", [&](const Message&) { fast_calls.fetch_add(1); });
  Gate release;  // outlives `slow`, whose handler waits on it
  auto slow = t.broker.subscribe("news",
                                 [&](const Message&) {
                                   if (slow_calls.fetch_add(1) == 0) {
                                     entered.open();
                                     release.wait();
                                   }
                                 },
                                 {.buffer = 1});
  // Opens `release` first on the way out, so a failed REQUIRE does not leave the handler
  // waiting while `slow`'s unsubscribe joins it.
  struct OpenOnExit {
    Gate& gate;
    ~OpenOnExit() { gate.open(); }
  } open_on_exit{release};

  REQUIRE(t.broker.publish("news", "first") == 2);
  entered.wait();  // the slow handler holds "first"; its buffer is empty
  // Publish until the slow subscriber's buffer is full (the ring may round a buffer of 1 up).
  std::uint64_t buffered = 0;
  while (t.broker.publish("news", "more") == 2) {
    ++buffered;
    REQUIRE(buffered < 100);
  }

  const BrokerStats stats = t.broker.stats();
  REQUIRE(stats.subscriptions.size() == 2);
  const SubscriptionEntry& p = stats.subscriptions[0];
  const SubscriptionEntry& s = stats.subscriptions[1];
  CHECK(p.id == 1);
  CHECK(p.channel == "n*");
  CHECK(p.pattern);
  CHECK(p.stats.dropped == 0);
  CHECK(s.id == 2);
  CHECK(s.channel == "news");
  CHECK_FALSE(s.pattern);
  CHECK(s.stats.dropped == 1);
  CHECK(s.stats.buffered == buffered);

  const std::string text = t.broker.metrics();
  CHECK(contains(text, "# TYPE switchyard_subscription_dropped_total counter\n"));
  CHECK(contains(text,
                 "switchyard_subscription_dropped_total{subscription=\"2\",channel=\"news\"} 1\n"));
  CHECK(contains(text,
                 "switchyard_subscription_dropped_total{subscription=\"1\",pattern=\"n*\"} 0\n"));
  CHECK(contains(text, "switchyard_subscription_buffered{subscription=\"2\",channel=\"news\"} " +
                           std::to_string(buffered) + "\n"));
  release.open();
  const std::uint64_t published = buffered + 2;
  REQUIRE(eventually([&] {
    return slow.stats().delivered == buffered + 1 && fast.stats().delivered == published;
  }));
  CHECK(contains(t.broker.metrics(),
                 "switchyard_subscription_delivered_total{subscription=\"1\","
                 "pattern=\"n*\"} " +
                     std::to_string(published) + "\n"));
}

TEST_CASE("a group's lag and committed offset are reported per partition") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("orders", {.partitions = 2});
  auto member = t.broker.group_consumer("orders", "billing", {.start = Start::earliest});
  // Two keys that land in different partitions.
  std::string a = "a", b = "b";
  for (int i = 0; topic.partition_for(b) == topic.partition_for(a); ++i) {
    b = std::to_string(i);
  }
  for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("orders", "o", {.key = a}));
  REQUIRE(t.producer.send("orders", "o", {.key = b}));
  const std::uint32_t pa = topic.partition_for(a), pb = topic.partition_for(b);
  auto line = [](const char* name, std::uint32_t partition, std::uint64_t value) {
    return std::string(name) + "{topic=\"orders\",group=\"billing\",partition=\"" +
           std::to_string(partition) + "\"} " + std::to_string(value) + "\n";
  };
  std::string text = t.broker.metrics();
  CHECK(contains(text, line("switchyard_group_partition_lag", pa, 3)));
  CHECK(contains(text, line("switchyard_group_partition_lag", pb, 1)));
  CHECK(contains(text, "switchyard_group_lag{topic=\"orders\",group=\"billing\"} 4\n"));
  CHECK(contains(text, "switchyard_group_members{topic=\"orders\",group=\"billing\"} 1\n"));
  CHECK(contains(text, "switchyard_topic_partition_end_offset{topic=\"orders\",partition=\"" +
                           std::to_string(pa) + "\"} 3\n"));

  // Everything polled and committed: partition a's lag goes to 0, its committed offset to 3.
  std::size_t polled = 0;
  REQUIRE(eventually([&] {
    auto batch = member.poll(16);
    if (batch) polled += batch->size();
    return polled == 4;
  }));
  REQUIRE(member.commit());
  text = t.broker.metrics();
  CHECK(contains(text, line("switchyard_group_partition_lag", pa, 0)));
  CHECK(contains(text, line("switchyard_group_partition_committed_offset", pa, 3)));
  CHECK(contains(text, line("switchyard_group_partition_committed_offset", pb, 1)));
}

TEST_CASE("a broker without a data directory reports zero storage") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  REQUIRE(t.producer.send("jobs", "a"));
  CHECK(t.broker.stats().storage == StorageStats{});
}

TEST_CASE("the storage counts bytes, records, syncs and segments of every durable log") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", {.durability = Durability::always});
    const StorageStats opened = broker.stats().storage;
    // The queue's messages and settlements (whose first generation's snapshot is written).
    CHECK(opened.logs_recovered >= 2);
    CHECK(opened.segments >= 2);
    CHECK(opened.segments == segment_files_under(dir.path()));
    CHECK(opened.segments_created >= opened.segments);

    auto producer = broker.producer();
    for (int i = 0; i < 3; ++i) REQUIRE(producer.send("jobs", "job"));
    const StorageStats sent = broker.stats().storage;
    CHECK(sent.records_written == opened.records_written + 3);
    CHECK(sent.bytes_written >= opened.bytes_written + 3 * 3);
    CHECK(sent.syncs >= opened.syncs + 3);  // `always`: every append syncs
    CHECK(sent.sync_latency.count() == sent.syncs);
    CHECK(sent.sync_failures == 0);

    auto consumer = broker.consumer("jobs");
    auto d = consumer.receive();
    REQUIRE(d);
    REQUIRE(d->ack());  // a settlement record, and the attempt count before it
    CHECK(broker.stats().storage.records_written > sent.records_written);
  }
  // Reopened: the logs are recovered (and counted) by the new broker; nothing to repair.
  Broker broker({.data_dir = dir.path()});
  const StorageStats reopened = broker.stats().storage;
  CHECK(reopened.logs_recovered >= 2);
  CHECK(reopened.recovery_events == 0);
  CHECK(reopened.segments == segment_files_under(dir.path()));

  const std::string text = broker.metrics();
  CHECK(contains(text, "switchyard_storage_logs_recovered_total " +
                           std::to_string(reopened.logs_recovered) + "\n"));
  CHECK(contains(text, "# TYPE switchyard_storage_sync_seconds histogram\n"));
}

TEST_CASE("the storage counts segments deleted by retention and keeps the open count exact") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path(), .storage = {.segment_bytes = 4096}});
  broker.declare_topic(
      "events", {.partitions = 1, .retention = {.records = 20}, .durability = Durability::none});
  auto producer = broker.producer();
  const std::string payload(200, 'x');
  for (int i = 0; i < 200; ++i) REQUIRE(producer.send("events", payload));
  (void)broker.topic("events").stats();  // applies retention by age; by count, appends did
  const StorageStats s = broker.stats().storage;
  CHECK(s.segments_created > 5);
  CHECK(s.segments_deleted > 0);
  CHECK(s.segments == s.segments_created - s.segments_deleted);
  CHECK(s.segments == segment_files_under(dir.path()));
  CHECK(contains(broker.metrics(), "switchyard_storage_segments_deleted_total " +
                                       std::to_string(s.segments_deleted) + "\n"));
}

TEST_CASE("a failed sync is counted in the storage's sync failures") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path()});
  broker.declare_queue("jobs", {.durability = Durability::always});
  struct FailSyncs : detail::FaultInjector {
    int on_sync(std::string_view path) noexcept override {
      return path.find("messages") != std::string_view::npos ? EIO : 0;
    }
  } fail;
  auto producer = broker.producer();
  {
    Installed installed(fail);
    CHECK(producer.send("jobs", "lost?").code() == Errc::io_error);
  }
  const StorageStats s = broker.stats().storage;
  CHECK(s.sync_failures == 1);
  CHECK(contains(broker.metrics(), "switchyard_storage_sync_failures_total 1\n"));
}

TEST_CASE("a torn tail repaired at open is counted as a recovery event") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", {.durability = Durability::none});
    REQUIRE(broker.producer().send("jobs", "a"));
  }
  const auto files = segment_files(dir.path() / "queues/jobs/messages");
  REQUIRE(files.size() == 1);
  auto bytes = read_all(files[0]);
  auto scan = detail::scan_segment(bytes, files[0].string(), {});
  REQUIRE(scan);
  for (std::size_t i = 0; i < 16; ++i) bytes[scan->valid_end + i] = std::byte{0xAB};
  write_all(files[0], bytes);

  Broker broker({.data_dir = dir.path()});
  CHECK(broker.stats().storage.recovery_events == 1);
  CHECK(contains(broker.metrics(), "switchyard_storage_recovery_events_total 1\n"));
}

TEST_CASE("stats as JSON parse back to the same values") {
  EveryKind k;
  const BrokerStats stats = k.t.broker.stats();
  const json j = json::parse(to_json(stats));

  REQUIRE(j.at("queues").size() == stats.queues.size());
  for (std::size_t i = 0; i < stats.queues.size(); ++i) {
    const QueueStats& q = stats.queues[i];
    const json& jq = j["queues"][i];
    CHECK(jq.at("name").get<std::string>() == q.name);
    CHECK(jq.at("depth").get<std::uint64_t>() == q.depth);
    CHECK(jq.at("enqueued").get<std::uint64_t>() == q.enqueued);
    CHECK(jq.at("delivered").get<std::uint64_t>() == q.delivered);
    CHECK(jq.at("acked").get<std::uint64_t>() == q.acked);
    const json& age = jq.at("delivery_age");
    CHECK(age.at("count").get<std::uint64_t>() == q.delivery_age.count());
    CHECK(age.at("sum_seconds").get<double>() ==
          Approx(static_cast<double>(q.delivery_age.sum_ns) / 1e9));
    REQUIRE(age.at("buckets").size() == LatencyHistogram::kBoundsNs.size());
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < LatencyHistogram::kBoundsNs.size(); ++b) {
      cumulative += q.delivery_age.counts[b];
      CHECK(age["buckets"][b].at("le").get<double>() ==
            Approx(static_cast<double>(LatencyHistogram::kBoundsNs[b]) / 1e9));
      CHECK(age["buckets"][b].at("count").get<std::uint64_t>() == cumulative);
    }
  }
  CHECK(j["queues"][0]["name"] == "audit");
  CHECK(j["queues"][1]["name"] == "jobs");
  CHECK(j["queues"][1]["acked"] == 1);
  CHECK(j["queues"][1]["delivery_age"]["count"] == 1);
  CHECK(j["queues"][2]["name"] == "we\"ird\\name\n");

  REQUIRE(j.at("topics").size() == 1);
  const json& topic = j["topics"][0];
  CHECK(topic["name"] == "orders");
  CHECK(topic["appended"] == 3);
  CHECK(topic["fanned_out"] == 3);
  REQUIRE(topic["partitions"].size() == 2);
  CHECK(topic["partitions"][1]["partition"] == 1);
  REQUIRE(topic["groups"].size() == 1);
  CHECK(topic["groups"][0]["name"] == "billing");
  CHECK(topic["groups"][0]["lag"] == 3);
  CHECK(topic["groups"][0]["members"] == 1);
  REQUIRE(topic["groups"][0]["partitions"].size() == 2);
  CHECK(topic["groups"][0]["partitions"][0]["assigned"].is_boolean());

  REQUIRE(j.at("exchanges").size() == 1);
  CHECK(j["exchanges"][0]["name"] == "events");
  CHECK(j["exchanges"][0]["deliveries"] == 1);
  CHECK(j["exchanges"][0]["bindings"] == 1);

  REQUIRE(j.at("subscriptions").size() == 2);
  CHECK(j["subscriptions"][0]["channel"] == "news");
  CHECK(j["subscriptions"][0]["pattern"] == false);
  CHECK(j["subscriptions"][1]["channel"] == "n*");
  CHECK(j["subscriptions"][1]["pattern"] == true);
  CHECK(j["subscriptions"][1]["id"] == 2);

  const json& storage = j.at("storage");
  CHECK(storage["syncs"] == 0);
  CHECK(storage["sync_latency"]["count"] == 0);
  CHECK(storage["sync_latency"]["buckets"].size() == LatencyHistogram::kBoundsNs.size());
}

TEST_CASE("JSON escapes control characters and replaces bytes that are not UTF-8") {
  BrokerStats stats;
  QueueStats q;
  q.name = std::string("tab\there \x01 caf\xC3\xA9 bad\xFF end \xE2\x82", 28);
  stats.queues.push_back(q);
  const std::string text = to_json(stats);
  CHECK(contains(text, "tab\\there \\u0001 caf\xC3\xA9 bad\xEF\xBF\xBD end "));
  const json j = json::parse(text);  // throws on invalid UTF-8 or a bad escape
  CHECK(j["queues"][0]["name"] ==
        "tab\there \x01 caf\xC3\xA9 bad\xEF\xBF\xBD end \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("metrics keep every series name and type they had before stats()") {
  EveryKind k;
  const std::string text = k.t.broker.metrics();
  const std::vector<std::pair<std::string, std::string>> before = {
      {"switchyard_queue_depth", "gauge"},
      {"switchyard_queue_in_flight", "gauge"},
      {"switchyard_queue_consumers", "gauge"},
      {"switchyard_queue_enqueued_total", "counter"},
      {"switchyard_queue_delivered_total", "counter"},
      {"switchyard_queue_redelivered_total", "counter"},
      {"switchyard_queue_acked_total", "counter"},
      {"switchyard_queue_nacked_total", "counter"},
      {"switchyard_queue_dead_lettered_total", "counter"},
      {"switchyard_queue_expired_total", "counter"},
      {"switchyard_queue_dropped_total", "counter"},
      {"switchyard_queue_deduplicated_total", "counter"},
      {"switchyard_queue_rejected_full_total", "counter"},
      {"switchyard_queue_handler_errors_total", "counter"},
      {"switchyard_queue_recovered_total", "counter"},
      {"switchyard_queue_recovery_truncated_bytes_total", "counter"},
      {"switchyard_queue_recovery_removed_segments_total", "counter"},
      {"switchyard_queue_recovery_skipped_regions_total", "counter"},
      {"switchyard_queue_recovery_skipped_bytes_total", "counter"},
      {"switchyard_exchange_routed_total", "counter"},
      {"switchyard_exchange_deliveries_total", "counter"},
      {"switchyard_exchange_unroutable_total", "counter"},
      {"switchyard_exchange_rejected_total", "counter"},
      {"switchyard_exchange_bindings", "gauge"},
      {"switchyard_topic_appended_total", "counter"},
      {"switchyard_topic_retained", "gauge"},
      {"switchyard_topic_retained_bytes", "gauge"},
      {"switchyard_topic_missed_total", "counter"},
      {"switchyard_topic_fanned_out_total", "counter"},
      {"switchyard_topic_fan_out_failed_total", "counter"},
      {"switchyard_topic_recovered_total", "counter"},
      {"switchyard_topic_recovery_truncated_bytes_total", "counter"},
      {"switchyard_topic_recovery_removed_segments_total", "counter"},
      {"switchyard_topic_recovery_skipped_regions_total", "counter"},
      {"switchyard_topic_recovery_skipped_bytes_total", "counter"},
      {"switchyard_group_lag", "gauge"},
      {"switchyard_pubsub_subscriptions", "gauge"},
  };
  for (const auto& [name, type] : before) {
    INFO(name);
    CHECK(contains(text, "# TYPE " + name + " " + type + "\n"));
  }
  // The same values as before, for one destination of each kind.
  CHECK(contains(text, "switchyard_queue_acked_total{queue=\"jobs\"} 1\n"));
  CHECK(contains(text, "switchyard_queue_enqueued_total{queue=\"jobs\"} 2\n"));
  CHECK(contains(text, "switchyard_exchange_deliveries_total{exchange=\"events\"} 1\n"));
  CHECK(contains(text, "switchyard_topic_appended_total{topic=\"orders\"} 3\n"));
  CHECK(contains(text, "switchyard_group_lag{topic=\"orders\",group=\"billing\"} 3\n"));
  CHECK(contains(text, "switchyard_pubsub_subscriptions 2\n"));
}

TEST_CASE("metrics of a broker with every kind of destination pass promtool check metrics") {
  const char* const promtool = "/usr/bin/promtool";
  // Not skipped when missing: scripts/bootstrap installs Debian's `prometheus`, which ships it.
  if (!fs::exists(promtool)) {
    FAIL("promtool is missing: install Debian's `prometheus` package (scripts/bootstrap)");
  }
  ScratchDir dir;
  Broker durable({.data_dir = dir.path()});
  durable.declare_queue("stored", {.durability = Durability::batch});
  REQUIRE(durable.producer().send("stored", "x"));
  EveryKind k;
  for (const std::string& text : {k.t.broker.metrics(), durable.metrics()}) {
    const fs::path file = dir.path() / "metrics.txt";
    std::ofstream(file) << text;
    const std::string command =
        std::string(promtool) + " check metrics < '" + file.string() + "' 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[512];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
    const int status = ::pclose(pipe);
    INFO("promtool said:\n" << output);
    CHECK(status == 0);
    CHECK(output.empty());
  }
}
