// Log-compacted topics (Kafka's cleanup.policy=compact): the latest record of every key is
// kept at its offset, tombstones delete a key after delete.retention, offsets never change,
// in memory and on a data directory; and the compaction swap of a durable log leaves the old
// segments or the new one after a crash at any storage call, never a mix.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "storage/segment_log.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"
#include "topic/topic_state.hpp"
#include "util/access.hpp"

using namespace switchyard;
using namespace switchyard::test;
using switchyard::detail::Access;
namespace fs = std::filesystem;

namespace {

/// (offset, payload) of every record a fresh group reads from the earliest offset.
std::vector<std::pair<std::uint64_t, std::string>> read_all(Broker& broker,
                                                            const std::string& topic,
                                                            const std::string& group) {
  auto consumer = broker.group_consumer(topic, group, {.start = Start::earliest});
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (;;) {
    auto batch = consumer.poll(1000);
    REQUIRE(batch);
    if (batch->empty()) return out;
    for (const auto& r : *batch) out.emplace_back(r.offset, std::string(r.payload().as_string()));
  }
}

std::uint64_t compact(Topic& topic) {
  auto removed = static_cast<detail::TopicState&>(*Access::state(topic)).compact_now();
  REQUIRE(removed);
  return *removed;
}

const Headers kTombstone{{kTombstoneHeader, ""}};

}  // namespace

TEST_CASE(
    "a compacted topic keeps the latest record of every key at its offset (Kafka: "
    "'retains at least the last known value for each message key')") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("state", {.cleanup = Cleanup::compact});
  // 100 keys written once, then 10 keys overwritten 2400 times: the memory log seals a chunk
  // every 1024 records, and only sealed chunks are compacted.
  for (int i = 0; i < 100; ++i) {
    const std::string key = fmt::format("u{}", i);
    REQUIRE(t.producer.send("state", fmt::format("{}={}", key, i), {.key = key}));
  }
  for (int i = 100; i < 2500; ++i) {
    const std::string key = fmt::format("k{}", i % 10);
    REQUIRE(t.producer.send("state", fmt::format("{}={}", key, i), {.key = key}));
  }
  CHECK(compact(topic) == 2048 - 100);
  const auto records = read_all(t.broker, "state", "reader");
  std::map<std::string, std::uint64_t> last;  // key -> offset of its last record
  std::uint64_t previous = 0;
  bool first = true;
  for (const auto& [offset, payload] : records) {
    CHECK((first || offset > previous));  // offsets ascend; holes between them
    first = false;
    previous = offset;
    const std::string key = payload.substr(0, payload.find('='));
    CHECK(payload.substr(payload.find('=') + 1) == std::to_string(offset));  // at its offset
    last[key] = offset;
    CHECK((offset < 100 || offset >= 2048));  // every overwritten record of sealed chunks gone
  }
  CHECK(records.size() == 100 + (2500 - 2048));
  for (int k = 0; k < 10; ++k) CHECK(last[fmt::format("k{}", k)] == 2490u + k);
  for (int u = 0; u < 100; ++u) CHECK(last[fmt::format("u{}", u)] == std::uint64_t(u));
  const TopicStats stats = topic.stats();
  CHECK(stats.compacted_away == 2048 - 100);
  CHECK(stats.compactions == 1);
  CHECK(stats.partitions[0].end_offset == 2500);  // offsets never change
  // A second pass finds nothing more to remove in what it already compacted.
  CHECK(compact(topic) == 0);
}

TEST_CASE(
    "a tombstone deletes its key at once and is itself removed after delete_retention "
    "(Kafka: delete.retention.ms)") {
  ManualBroker t;
  auto topic = t.broker.declare_topic(
      "state", {.cleanup = Cleanup::compact, .delete_retention = std::chrono::hours(1)});
  REQUIRE(t.producer.send("state", "v1", {.key = "gone"}));                       // 0
  REQUIRE(t.producer.send("state", "", {.key = "gone", .headers = kTombstone}));  // 1
  REQUIRE(t.producer.send("state", "", {.key = "empty"}));  // 2: empty, unmarked
  for (int i = 3; i < 1100; ++i) REQUIRE(t.producer.send("state", "f", {.key = "filler"}));
  CHECK(compact(topic) == 1 + 1021);  // "gone"@0 and the filler below the sealed end (1024)
  auto offsets = [&](const std::string& group) {
    std::set<std::uint64_t> out;
    for (const auto& [offset, payload] : read_all(t.broker, "state", group)) out.insert(offset);
    return out;
  };
  auto before = offsets("before");
  CHECK_FALSE(before.contains(0));
  CHECK(before.contains(1));  // a reader that is behind still sees the delete
  CHECK(before.contains(2));  // an empty payload without the mark is a value, not a delete
  // From here on the clock passes the compactor's tick too: its pass and ours may both run,
  // so what is counted is what the topic lost, not which pass removed it.
  const std::uint64_t removed = topic.stats().compacted_away;
  t.clock->advance(std::chrono::minutes(59));
  (void)compact(topic);
  CHECK(topic.stats().compacted_away == removed);
  t.clock->advance(std::chrono::minutes(1));
  (void)compact(topic);
  CHECK(topic.stats().compacted_away == removed + 1);
  auto after = offsets("after");
  CHECK_FALSE(after.contains(1));
  CHECK(after.contains(2));
}

TEST_CASE(
    "a compacted topic refuses a record without a key (Kafka: 'Compacted topic cannot "
    "accept message without key')") {
  ManualBroker t;
  (void)t.broker.declare_topic("state", {.cleanup = Cleanup::compact});
  auto sent = t.producer.send("state", "no key");
  REQUIRE_FALSE(sent);
  CHECK(sent.code() == Errc::invalid_argument);
}

TEST_CASE("compact_delete applies retention to what compaction left (compact alone needs none)") {
  ManualBroker t;
  // Retention bounding neither records nor bytes is refused for delete and compact_delete...
  auto e = error_of([&] {
    (void)t.broker.declare_topic(
        "a", {.retention = {.records = 0, .bytes = 0}, .cleanup = Cleanup::compact_delete});
  });
  REQUIRE(e);
  CHECK(e->code() == Errc::invalid_argument);
  // ...and accepted for compact: compaction bounds the log by its keys.
  CHECK(t.broker.declare_topic(
      "b", {.retention = {.records = 0, .bytes = 0}, .cleanup = Cleanup::compact}));
  auto topic =
      t.broker.declare_topic("c", {.retention = {.records = 400, .bytes = 0, .age = Duration(0)},
                                   .cleanup = Cleanup::compact_delete});
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(t.producer.send("c", std::to_string(i), {.key = fmt::format("k{}", i % 3)}));
  }
  (void)compact(topic);
  const auto records = read_all(t.broker, "c", "g");
  CHECK(records.size() <= 400);
  CHECK(records.back().first == 999);
}

TEST_CASE(
    "a durable compacted topic keeps the latest record per key across a restart, and "
    "readers step over the holes") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  const TopicOptions options{.durability = Durability::always,
                             .storage = {.segment_bytes = 4096},
                             .cleanup = Cleanup::compact,
                             .delete_retention = Duration(0)};
  std::vector<std::pair<std::uint64_t, std::string>> compacted;
  {
    Broker broker(BrokerOptions{.clock = clock, .data_dir = dir.path()});
    auto topic = broker.declare_topic("state", options);
    auto producer = broker.producer();
    for (int i = 0; i < 400; ++i) {
      const std::string key = fmt::format("k{}", i % 7);
      REQUIRE(producer.send("state", fmt::format("{}={}", key, i), {.key = key}));
    }
    REQUIRE(producer.send("state", "", {.key = "k0", .headers = kTombstone}));
    for (int i = 401; i < 460; ++i) {
      REQUIRE(producer.send("state", fmt::format("x={}", i), {.key = "x"}));
    }
    const auto before = read_all(broker, "state", "before");
    REQUIRE(before.size() == 460);
    CHECK(compact(topic) > 300);
    compacted = read_all(broker, "state", "after");
    CHECK(compacted.size() < 100);
    std::map<std::string, std::uint64_t> last;
    for (const auto& [offset, payload] : compacted)
      last[payload.substr(0, payload.find('='))] = offset;
    for (int k = 1; k < 7; ++k) {
      // The last record of each key k1..k6 (offset 392 + k, below 400) survived.
      CHECK(last[fmt::format("k{}", k)] == std::uint64_t(392 + k));
    }
    CHECK_FALSE(last.contains("k0"));  // deleted by its tombstone (delete_retention 0: gone too)
    CHECK(topic.stats().partitions[0].end_offset == 460);
    // A group committed inside a hole reads the next record after it.
    auto member = broker.group_consumer("state", "hole", {.start = Start::earliest});
    REQUIRE(member.poll(0));  // joins: owns partition 0
    auto seek = member.seek(0, 1);
    INFO(seek.message());
    REQUIRE(seek);
    auto batch = member.poll(1);
    REQUIRE(batch);
    REQUIRE(batch->size() == 1);
    CHECK((*batch)[0].offset == compacted.front().first);
  }
  Broker reopened(BrokerOptions{.clock = clock, .data_dir = dir.path()});
  (void)reopened.declare_topic("state", options);
  CHECK(read_all(reopened, "state", "restarted") == compacted);
}

namespace {

/// A kill -9 at every storage call: before each call the injector copies the log's directory
/// as it is then (the page cache a killed process leaves behind).
class CopyAtEveryCall : public detail::FaultInjector {
 public:
  CopyAtEveryCall(fs::path dir, fs::path images)
      : dir_(std::move(dir)), images_(std::move(images)) {}
  int on_call(const detail::FileOp&) noexcept override {
    std::lock_guard lock(mutex_);
    if (!armed_) return 0;
    const fs::path image = images_ / fmt::format("{}", copies_.size());
    std::error_code ec;
    fs::create_directories(image, ec);
    fs::copy(dir_, image, fs::copy_options::recursive, ec);
    if (!ec) copies_.push_back(image);
    return 0;
  }
  void arm(bool on) {
    std::lock_guard lock(mutex_);
    armed_ = on;
  }
  std::vector<fs::path> copies() {
    std::lock_guard lock(mutex_);
    return copies_;
  }

 private:
  fs::path dir_, images_;
  std::mutex mutex_;
  bool armed_ = false;
  std::vector<fs::path> copies_;
};

using Contents = std::map<std::uint64_t, std::string>;

Contents contents(detail::SegmentLog& log) {
  Contents out;
  std::uint64_t from = log.start_offset();
  while (from < log.end_offset()) {
    auto batch = log.read(from);
    REQUIRE(batch);
    for (const auto& r : batch->records) {
      out[r.offset] = std::string(reinterpret_cast<const char*>(r.body.data()), r.body.size());
    }
    if (batch->records.empty() && batch->next_offset == from) break;
    from = batch->next_offset;
  }
  return out;
}

detail::SegmentLogOptions log_options(detail::FaultInjector* faults) {
  detail::SegmentLogOptions o;
  o.segment_bytes = 1024;
  o.durability = Durability::always;
  o.faults = faults;
  return o;
}

}  // namespace

TEST_CASE(
    "a compaction killed at any storage call recovers the old segments or the new one, "
    "never a mix") {
  ScratchDir scratch;
  const fs::path dir = scratch / "log";
  CopyAtEveryCall kill(dir, scratch / "images");
  Contents old_contents, new_contents;
  {
    auto log = detail::SegmentLog::open(dir, log_options(&kill));
    REQUIRE(log);
    // Bodies "key:n": 5 keys over 120 records, about 25 per 1 KiB segment.
    for (int i = 0; i < 120; ++i) {
      const std::string body = fmt::format("k{}:{}", i % 5, i);
      REQUIRE((*log)->append(bytes_of(body), i));
    }
    REQUIRE((*log)->segment_count() > 3);
    old_contents = contents(**log);
    const std::uint64_t sealed_end = 100;  // keep a record unless a later one has its key
    auto keep = [&](const detail::RecordView& r) {
      return r.offset + 5 >= 120 || r.offset >= sealed_end;
    };
    kill.arm(true);
    auto pass = (*log)->compact(keep);
    kill.arm(false);
    REQUIRE(pass);
    CHECK(pass->records_removed > 50);
    new_contents = contents(**log);
    CHECK(new_contents.size() < old_contents.size());
    CHECK((*log)->end_offset() == 120);
  }
  const auto copies = kill.copies();
  REQUIRE(copies.size() > 10);
  std::size_t saw_old = 0, saw_new = 0;
  for (const fs::path& copy : copies) {
    INFO("killed before storage call " << copy.filename().string());
    auto log = detail::SegmentLog::open(copy, log_options(nullptr));
    REQUIRE(log);
    const Contents got = contents(**log);
    const bool is_old = got == old_contents, is_new = got == new_contents;
    CHECK((is_old || is_new));
    saw_old += is_old;
    saw_new += is_new;
    CHECK((*log)->end_offset() == 120);
    // Recovered, a log appends after its last offset as before.
    auto next = (*log)->append(bytes_of("k9:120"), 120);
    REQUIRE(next);
    CHECK(*next == 120);
  }
  CHECK(saw_old > 0);
  CHECK(saw_new > 0);
  WARN("compaction kill points: " << copies.size() << ", recovered old " << saw_old << ", new "
                                  << saw_new << ", mixed 0 lost 0");
}
