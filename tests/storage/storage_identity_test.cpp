// Every durable file names its owner (destination kind, name, partition, and which of its
// streams): a file found in another stream's place is `Errc::corrupt`, never served. One test
// per way a file can end up in the wrong place.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "durable/offset_store.hpp"
#include "storage/segment_log.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"
#include "switchyard/switchyard.hpp"
#include "util/crc32c.hpp"

using namespace switchyard;
using namespace switchyard::test;
using switchyard::test::ScratchDir;
using switchyard::test::segment_files;
namespace fs = std::filesystem;

namespace {

const QueueOptions kQueue{.durability = Durability::none};
const TopicOptions kTopic{.partitions = 1, .durability = Durability::none};

void swap_files(const fs::path& a, const fs::path& b) {
  const fs::path tmp = a.string() + ".swap";
  fs::rename(a, tmp);
  fs::rename(b, a);
  fs::rename(tmp, b);
}

fs::path only_segment(const fs::path& dir) {
  const auto files = segment_files(dir);
  REQUIRE(files.size() == 1);
  return files.front();
}

/// The directory of the newest settlement generation of a queue.
fs::path settlement_dir(const fs::path& queue_dir) {
  std::vector<fs::path> gens;
  for (const auto& e : fs::directory_iterator(queue_dir)) {
    if (e.path().filename().string().starts_with("acks-")) gens.push_back(e.path());
  }
  REQUIRE(gens.size() == 1);
  return gens.front();
}

/// What queue `name` hands out, as text ("" when empty).
std::string queue_contents(Broker& broker, const std::string& name) {
  auto consumer = broker.consumer(name);
  std::string out;
  while (auto d = consumer.receive()) out += text(*d) + ";";
  return out;
}

/// What queues alpha and beta hold, as text.
std::string both_queues(Broker& broker) {
  return "alpha=" + queue_contents(broker, "alpha") + " beta=" + queue_contents(broker, "beta");
}

/// What a fresh group reads from topic `name`, as text.
std::string topic_contents(Broker& broker, const std::string& name) {
  auto group = broker.group_consumer(name, "inspect", {.start = Start::earliest});
  std::string out;
  for (;;) {
    auto batch = group.poll(100);
    if (!batch || batch->empty()) return out;
    for (const auto& r : *batch) out += std::string(r.payload().as_string()) + ";";
  }
}

/// Reopening `dir` must fail with `Errc::corrupt` naming `file` and what it claims to be.
/// `served` tells, should the broker open after all, what it served instead (the failure mode).
void expect_refused(const fs::path& dir, const fs::path& file,
                    const std::function<std::string(Broker&)>& served) {
  std::optional<Error> error;
  try {
    Broker broker({.data_dir = dir});
    FAIL("the broker opened over a misplaced file, serving: " << served(broker));
  } catch (const Error& e) {
    error = e;
  }
  REQUIRE(error);
  CHECK(error->code() == Errc::corrupt);
  CHECK_THAT(error->what(), Catch::Contains(file.string()) && Catch::Contains("belongs to"));
}

}  // namespace

TEST_CASE("a segment swapped between two queues is refused as corrupt - not served") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("alpha", kQueue);
    broker.declare_queue("beta", kQueue);
    auto producer = broker.producer();
    REQUIRE(producer.send("alpha", "alpha-secret"));
    REQUIRE(producer.send("beta", "beta-secret"));
  }
  const auto a = only_segment(dir / "queues/alpha/messages");
  const auto b = only_segment(dir / "queues/beta/messages");
  swap_files(a, b);
  expect_refused(dir.path(), a, both_queues);
}

TEST_CASE("a segment swapped between two partitions of one topic is refused as corrupt") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_topic("events", {.partitions = 2, .durability = Durability::none});
    auto producer = broker.producer();
    REQUIRE(producer.send("events", "p0-record", {.partition = 0u}));
    REQUIRE(producer.send("events", "p1-record", {.partition = 1u}));
  }
  const auto p0 = only_segment(dir / "topics/events/p0");
  const auto p1 = only_segment(dir / "topics/events/p1");
  swap_files(p0, p1);
  expect_refused(dir.path(), p0, [](Broker& broker) {
    auto group = broker.group_consumer("events", "g", {.start = Start::earliest});
    std::string out;
    auto batch = group.poll(100);
    if (batch) {
      for (const auto& r : *batch) {
        out += std::to_string(r.partition);  // (appended piecewise: GCC 12 -Wrestrict)
        out += '=';
        out += r.payload().as_string();
        out += ';';
      }
    }
    return out;
  });
}

TEST_CASE("a queue segment put in place of a topic partition's is refused as corrupt") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", kQueue);
    broker.declare_topic("events", kTopic);
    auto producer = broker.producer();
    REQUIRE(producer.send("jobs", "queue-message"));
    REQUIRE(producer.send("events", "topic-record"));
  }
  const auto q = only_segment(dir / "queues/jobs/messages");
  const auto t = only_segment(dir / "topics/events/p0");
  swap_files(q, t);
  std::optional<Error> error;
  try {
    Broker broker({.data_dir = dir.path()});
    FAIL("the broker opened, serving: jobs=" << queue_contents(broker, "jobs")
                                             << " events=" << topic_contents(broker, "events"));
  } catch (const Error& e) {
    error = e;
  }
  REQUIRE(error);
  CHECK(error->code() == Errc::corrupt);
  // Whichever the catalog declares first names its file and what the file claims to be.
  CHECK_THAT(error->what(), Catch::Contains("belongs to"));
  CHECK_THAT(error->what(), (Catch::Contains(q.string()) && Catch::Contains("claims topic")) ||
                                (Catch::Contains(t.string()) && Catch::Contains("claims queue")));
}

TEST_CASE("a settlement journal swapped between two queues is refused as corrupt") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("alpha", kQueue);
    broker.declare_queue("beta", kQueue);
    auto producer = broker.producer();
    REQUIRE(producer.send("alpha", "alpha-done"));
    REQUIRE(producer.send("beta", "beta-pending"));
    auto c = broker.consumer("alpha");
    auto d = c.receive();
    REQUIRE(d);
    REQUIRE(d->ack());  // alpha's journal says seq 0 is settled; beta's says nothing is
  }
  const auto a = only_segment(settlement_dir(dir / "queues/alpha"));
  const auto b = only_segment(settlement_dir(dir / "queues/beta"));
  swap_files(a, b);
  expect_refused(dir.path(), a, both_queues);
}

TEST_CASE("an offset checkpoint swapped between two topics is refused as corrupt") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    for (const char* name : {"alpha", "beta"}) {
      broker.declare_topic(name, kTopic);
      auto producer = broker.producer();
      for (int i = 0; i < 5; ++i) REQUIRE(producer.send(name, "r"));
    }
    auto ga = broker.group_consumer("alpha", "g", {.start = Start::earliest});
    auto gb = broker.group_consumer("beta", "g", {.start = Start::earliest});
    REQUIRE(ga.poll(0));
    REQUIRE(gb.poll(0));
    REQUIRE(ga.commit(0, 1));
    REQUIRE(gb.commit(0, 4));
  }
  std::vector<fs::path> a, b;
  for (const auto& e : fs::directory_iterator(dir / "topics/alpha/offsets")) a.push_back(e.path());
  for (const auto& e : fs::directory_iterator(dir / "topics/beta/offsets")) b.push_back(e.path());
  REQUIRE(a.size() == b.size());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].filename() == b[i].filename());
    swap_files(a[i], b[i]);
  }
  std::optional<Error> error;
  try {
    Broker broker({.data_dir = dir.path()});
    auto ga = broker.group_consumer("alpha", "g");
    auto gb = broker.group_consumer("beta", "g");
    FAIL("the broker opened: alpha's group committed "
         << (ga.committed(0) ? *ga.committed(0) : 99) << ", beta's "
         << (gb.committed(0) ? *gb.committed(0) : 99));
  } catch (const Error& e) {
    error = e;
  }
  REQUIRE(error);
  CHECK(error->code() == Errc::corrupt);
  CHECK_THAT(error->what(), Catch::Contains(a.back().string()) && Catch::Contains("belongs to"));
}

TEST_CASE("a version 1 segment without an owner is still read - without the identity check") {
  using namespace switchyard::detail;
  ScratchDir dir;
  {
    auto log = SegmentLog::open(dir.path(), {});
    REQUIRE(log);
    REQUIRE((*log)->append(switchyard::test::bytes_of("old-record"), 7));
  }
  // Rewrite the header as format version 1 wrote it: no owner block.
  const auto file = only_segment(dir.path());
  auto bytes = switchyard::test::read_all(file);
  auto header = read_segment_header(bytes, file.string());
  REQUIRE(header);
  SegmentHeader old = *header;
  old.version = 1;  // writes zeros where version 2 has the owner block
  write_segment_header(bytes, old);
  switchyard::test::write_all(file, bytes);

  SegmentLogOptions options;
  options.owner = StorageOwner::of(OwnerKind::queue, StreamRole::records, "anyone", 0);
  auto log = SegmentLog::open(dir.path(), options);
  REQUIRE(log);
  auto batch = (*log)->read(0);
  REQUIRE(batch);
  REQUIRE(batch->records.size() == 1);
  CHECK(switchyard::test::text_of(batch->records[0].body) == "old-record");
}

TEST_CASE("a misplaced segment is refused even in salvage mode - it is not damage to skip") {
  using namespace switchyard::detail;
  ScratchDir dir;
  SegmentLogOptions mine;
  mine.owner = StorageOwner::of(OwnerKind::topic, StreamRole::records, "events", 3);
  {
    auto log = SegmentLog::open(dir.path(), mine);
    REQUIRE(log);
    REQUIRE((*log)->append(switchyard::test::bytes_of("record"), 1));
  }
  SegmentLogOptions other = mine;
  other.owner.partition = 4;
  other.salvage = true;
  auto log = SegmentLog::open(dir.path(), other);
  REQUIRE_FALSE(log);
  CHECK(log.code() == Errc::corrupt);
  CHECK_THAT(log.message(), Catch::Contains("partition 3") && Catch::Contains("partition 4"));
}

TEST_CASE("a version 1 checkpoint without an owner is still read - without the identity check") {
  using namespace switchyard::detail;
  ScratchDir dir;
  OffsetMap offsets;
  offsets[{"billing", 0}] = CommittedOffset{42, "meta"};
  // Version 1 bytes: the version 2 encoding without its owner block, CRC recomputed.
  auto v2 = encode_offset_checkpoint(offsets, 1);
  const std::size_t body = v2.size() - checkpoint::kHeaderSize - checkpoint::kTrailerSize;
  std::vector<std::byte> v1(checkpoint::kVersion1HeaderSize + body + checkpoint::kTrailerSize);
  std::memcpy(v1.data(), v2.data(), checkpoint::kVersion1HeaderSize);
  std::memcpy(v1.data() + checkpoint::kVersion1HeaderSize, v2.data() + checkpoint::kHeaderSize,
              body);
  store<std::uint16_t>(v1.data() + 8, 1);
  const std::size_t crc_at = checkpoint::kVersion1HeaderSize + body;
  store<std::uint32_t>(v1.data() + crc_at, crc32c(std::span(v1).first(crc_at)));
  switchyard::test::write_all(dir / "offsets-00000000000000000001.ckpt", v1);

  auto cp = OffsetStore::open(dir.path(), "offsets", nullptr,
                              StorageOwner::of(OwnerKind::topic, StreamRole::offsets, "t", 0));
  REQUIRE(cp);
  CHECK(cp->offsets() == offsets);
  // The next commit writes version 2, naming its owner.
  REQUIRE(cp->commit(offsets));
  auto decoded = decode_offset_checkpoint(
      switchyard::test::read_all(dir / "offsets-00000000000000000002.ckpt"), "cp");
  REQUIRE(decoded);
  CHECK(decoded->version == checkpoint::kVersion);
  CHECK(decoded->owner.same_as(StorageOwner::of(OwnerKind::topic, StreamRole::offsets, "t", 0)));
}
