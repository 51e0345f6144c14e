// Recovery is reported, never silent: what each durable destination found and repaired at open
// shows in Broker::recovery_report() (with file and offset), in QueueStats/TopicStats and in
// metrics().
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "storage/segment_format.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace switchyard::test;
using switchyard::test::read_all;
using switchyard::test::ScratchDir;
using switchyard::test::segment_files;
using switchyard::test::write_all;
namespace fs = std::filesystem;

namespace {

const QueueOptions kQueue{.durability = Durability::none};
const TopicOptions kTopic{.partitions = 1, .durability = Durability::none};

/// Byte positions of the records of a segment file, in order.
std::vector<std::size_t> record_positions(const std::vector<std::byte>& bytes,
                                          const std::string& path) {
  std::vector<std::size_t> positions;
  auto scan = detail::scan_segment(
      bytes, path, {},
      [&](const detail::RecordView&, std::size_t position) { positions.push_back(position); });
  REQUIRE(scan);
  return positions;
}

/// The one segment of `dir`.
fs::path only_segment(const fs::path& dir) {
  const auto files = segment_files(dir);
  REQUIRE(files.size() == 1);
  return files.front();
}

const StreamRecovery& stream_of(const RecoveryReport& report, const std::string& name,
                                std::uint32_t partition = 0) {
  for (const auto& s : report.streams) {
    if (s.destination == name && s.partition == partition) return s;
  }
  FAIL("no recovery entry for " << name << " partition " << partition);
  return report.streams.front();  // not reached
}

}  // namespace

TEST_CASE(
    "a torn tail shows in the recovery report - the queue's stats and metrics - with file and "
    "offset") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", kQueue);
    auto producer = broker.producer();
    for (int i = 0; i < 3; ++i) REQUIRE(producer.send("jobs", "job-" + std::to_string(i)));
  }
  // A write cut short after the last record: 16 bytes of a record header that never got its
  // size right (what a crash in the middle of an append leaves).
  const auto file = only_segment(dir / "queues/jobs/messages");
  auto bytes = read_all(file);
  const auto positions = record_positions(bytes, file.string());
  REQUIRE(positions.size() == 3);
  auto scan = detail::scan_segment(bytes, file.string(), {});
  REQUIRE(scan);
  const std::size_t tail = scan->valid_end;
  for (std::size_t i = 0; i < 16; ++i) bytes[tail + i] = std::byte{0xAB};
  write_all(file, bytes);

  Broker broker({.data_dir = dir.path()});
  const auto report = broker.recovery_report();
  CHECK(report.repaired());
  const auto& jobs = stream_of(report, "jobs");
  CHECK(jobs.kind == StreamRecovery::Kind::queue);
  CHECK(jobs.truncated_bytes == 16);
  CHECK(jobs.restored == 3);
  REQUIRE_FALSE(jobs.events.empty());
  CHECK_THAT(jobs.events.front(), Catch::Contains(file.string()) &&
                                      Catch::Contains("offset " + std::to_string(tail)) &&
                                      Catch::Contains("torn tail") && Catch::Contains("truncated"));

  const auto stats = broker.queue("jobs").stats();
  CHECK(stats.recovered == 3);
  CHECK(stats.recovery_truncated_bytes == 16);
  CHECK(stats.recovery_skipped_regions == 0);
  const std::string metrics = broker.metrics();
  CHECK_THAT(metrics, Catch::Contains(
                          "switchyard_queue_recovery_truncated_bytes_total{queue=\"jobs\"} 16\n"));
  CHECK_THAT(metrics, Catch::Contains("switchyard_queue_recovered_total{queue=\"jobs\"} 3\n"));
  CHECK_THAT(metrics,
             Catch::Contains("# TYPE switchyard_queue_recovery_truncated_bytes_total counter"));
}

TEST_CASE(
    "a record skipped under salvage is counted in the report - the topic's stats and metrics") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_topic("events", kTopic);
    auto producer = broker.producer();
    for (int i = 0; i < 5; ++i) REQUIRE(producer.send("events", "event-" + std::to_string(i)));
  }
  // One flipped bit in the body of the third record: valid records follow, so this is
  // corruption, not a torn tail; salvage skips the record and must say so.
  const auto file = only_segment(dir / "topics/events/p0");
  auto bytes = read_all(file);
  const auto positions = record_positions(bytes, file.string());
  REQUIRE(positions.size() == 5);
  bytes[positions[2] + detail::segment::kBodyOffset + 3] ^= std::byte{0x01};
  write_all(file, bytes);

  CHECK(code_of([&] { Broker strict({.data_dir = dir.path()}); }) == Errc::corrupt);

  Broker broker({.data_dir = dir.path(), .salvage = true});
  const auto report = broker.recovery_report();
  CHECK(report.repaired());
  const auto& events = stream_of(report, "events", 0);
  CHECK(events.kind == StreamRecovery::Kind::topic);
  CHECK(events.corrupt_regions_skipped == 1);
  CHECK(events.corrupt_bytes_skipped == positions[3] - positions[2]);
  CHECK(events.records == 4);
  CHECK(events.restored == 4);
  REQUIRE(events.events.size() == 1);
  CHECK_THAT(events.events.front(), Catch::Contains(file.string()) &&
                                        Catch::Contains("offset " + std::to_string(positions[2])) &&
                                        Catch::Contains("salvage skipped 1 region(s)"));

  const auto stats = broker.topic("events").stats();
  CHECK(stats.recovery_skipped_regions == 1);
  CHECK(stats.recovery_skipped_bytes == positions[3] - positions[2]);
  CHECK(stats.recovered == 4);
  const std::string metrics = broker.metrics();
  CHECK_THAT(metrics, Catch::Contains(
                          "switchyard_topic_recovery_skipped_regions_total{topic=\"events\"} 1\n"));
  CHECK_THAT(metrics, Catch::Contains("switchyard_topic_recovered_total{topic=\"events\"} 4\n"));
}

TEST_CASE("a clean reopen reports every durable destination and nothing repaired") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", kQueue);
    broker.declare_topic("events", {.partitions = 2, .durability = Durability::none});
    auto producer = broker.producer();
    for (int i = 0; i < 4; ++i) REQUIRE(producer.send("jobs", "job"));
    for (int i = 0; i < 6; ++i) REQUIRE(producer.send("events", "e", {.partition = i % 2u}));
    auto consumer = broker.consumer("jobs");
    auto d = consumer.receive();
    REQUIRE(d);
    REQUIRE(d->ack());
    auto group = broker.group_consumer("events", "billing", {.start = Start::earliest});
    REQUIRE(group.poll(0));
    REQUIRE(group.commit(1, 2));
  }
  Broker broker({.data_dir = dir.path()});
  broker.declare_queue("scratch");  // in memory: not in the report
  const auto report = broker.recovery_report();
  CHECK_FALSE(report.repaired());
  REQUIRE(report.streams.size() == 3);  // events p0, events p1, jobs (by name, then partition)
  CHECK(report.streams[0].destination == "events");
  CHECK(report.streams[0].partition == 0);
  CHECK(report.streams[1].partition == 1);
  CHECK(report.streams[2].destination == "jobs");
  for (const auto& s : report.streams) {
    CHECK_FALSE(s.repaired());
    CHECK(s.events.empty());
    CHECK(s.truncated_bytes == 0);
    CHECK(s.corrupt_regions_skipped == 0);
    CHECK(s.segments >= 1);
  }
  CHECK(report.streams[0].restored == 3);
  CHECK(report.streams[0].committed_groups == 0);
  CHECK(report.streams[1].committed_groups == 1);
  CHECK(report.streams[2].restored == 3);  // 4 accepted, 1 acked
  CHECK(broker.queue("jobs").stats().recovered == 3);
  CHECK(broker.queue("scratch").stats().recovered == 0);
  CHECK_THAT(
      broker.metrics(),
      Catch::Contains("switchyard_queue_recovery_truncated_bytes_total{queue=\"jobs\"} 0\n"));
}

TEST_CASE("a broker without a data directory reports no recovery") {
  Broker broker;
  broker.declare_queue("jobs");
  broker.declare_topic("events");
  CHECK(broker.recovery_report().streams.empty());
  CHECK_FALSE(broker.recovery_report().repaired());
}
