// Storage sizing a user controls (issue 16 §2): `StorageOptions` on the broker and per
// destination — segment size, space reservation, group commit — checked at construction and
// declare, kept in the catalog, and small streams that cost little on disk.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>

#include "support/figures.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;
using namespace std::chrono_literals;

namespace {

/// Bytes of disk the regular files under `dir` occupy (st_blocks, not their sizes).
std::uint64_t disk_use(const std::filesystem::path& dir) {
  std::uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (entry.is_regular_file() && ::stat(entry.path().c_str(), &st) == 0) {
      bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  }
  return bytes;
}

std::uint64_t bytes_of_file(const std::filesystem::path& file) {
  return std::filesystem::file_size(file);
}

std::string payload(std::uint64_t i, std::size_t size) {
  std::string text = "message " + std::to_string(i) + " ";
  text.resize(size, static_cast<char>('a' + i % 26));
  return text;
}

/// A send completion that a test waits for, bounded.
struct Completed {
  std::mutex m;
  std::condition_variable cv;
  int count = 0;
  bool failed = false;
  SendOptions options() {
    return {.on_complete = [this](const Result<SendReceipt>& r) {
      std::lock_guard lock(m);
      ++count;
      failed = failed || !r;
      cv.notify_all();
    }};
  }
  bool wait_for(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, limit, [&] { return count >= n; });
  }
};

}  // namespace

TEST_CASE("four empty durable queues take less than 4 MiB of disk") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    for (const char* name : {"a", "b", "c", "d"}) {
      broker.declare_queue(name, {.durability = Durability::batch});
    }
    const std::uint64_t bytes = disk_use(dir.path());
    print_figures("storage_sizing_empty_queues", {{"queues", 4}, {"disk_bytes", bytes}});
    CHECK(bytes < (4u << 20));
  }
  // A clean reopen does not grow them.
  Broker reopened({.data_dir = dir.path()});
  CHECK(disk_use(dir.path()) < (4u << 20));
}

TEST_CASE(
    "a durable queue whose segment grows past several extents keeps every message across a "
    "restart") {
  ScratchDir dir;
  constexpr std::uint64_t kMessages = 3000;  // ~3 MiB: extents of 64 KiB doubled to 4 MiB
  const QueueOptions options{.capacity = kMessages, .durability = Durability::none};
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", options);
    auto producer = broker.producer();
    for (std::uint64_t i = 0; i < kMessages; ++i) REQUIRE(producer.send("jobs", payload(i, 1000)));
  }
  const auto segments = segment_files(dir.path() / "queues" / "jobs" / "messages");
  REQUIRE(segments.size() == 1);
  CHECK(bytes_of_file(segments.front()) >= kMessages * 1000);
  CHECK(bytes_of_file(segments.front()) <= 4u << 20);  // grown as it filled, not 64 MiB at once
  Broker broker({.data_dir = dir.path()});
  auto consumer = broker.consumer("jobs");
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    auto d = consumer.receive(5s);
    REQUIRE(d);
    REQUIRE(text(*d) == payload(i, 1000));
    REQUIRE(d->ack());
  }
  CHECK_FALSE(broker.recovery_report().repaired());
}

TEST_CASE(
    "storage options out of range are refused at broker construction and at declare, naming the "
    "option") {
  ScratchDir dir;
  const StorageOptions bad[] = {
      {.segment_bytes = 103},
      {.segment_bytes = (std::uint64_t{1} << 40) + 1},
      {.preallocate = static_cast<Preallocate>(7)},
      {.flush_interval = -1ns},
      {.flush_interval = 1h + 1ns},
      {.flush_bytes = (std::uint64_t{1} << 40) + 1},
  };
  const char* names[] = {"segment_bytes",  "segment_bytes",  "preallocate",
                         "flush_interval", "flush_interval", "flush_bytes"};
  Broker broker({.data_dir = dir.path()});
  for (std::size_t i = 0; i < std::size(bad); ++i) {
    INFO("case " << i);
    auto at_construction = error_of([&] { Broker other({.storage = bad[i]}); });
    REQUIRE(at_construction);
    CHECK(at_construction->code() == Errc::invalid_argument);
    CHECK_THAT(at_construction->what(), Catch::Contains(std::string("storage.") + names[i]));
    auto at_queue = error_of(
        [&] { broker.declare_queue("q", {.durability = Durability::none, .storage = bad[i]}); });
    REQUIRE(at_queue);
    CHECK(at_queue->code() == Errc::invalid_argument);
    CHECK_THAT(at_queue->what(), Catch::Contains(names[i]));
    CHECK(code_of([&] {
            broker.declare_topic("t", {.durability = Durability::none, .storage = bad[i]});
          }) == Errc::invalid_argument);
  }
  CHECK(broker.destinations().empty());
  // The limits themselves are accepted.
  CHECK_NOTHROW(Broker({.storage = {.segment_bytes = StorageOptions::kMinSegmentBytes,
                                    .preallocate = Preallocate::full,
                                    .flush_interval = StorageOptions::kMaxFlushInterval,
                                    .flush_bytes = StorageOptions::kMaxFlushBytes}}));
}

TEST_CASE("a destination's storage options override the broker's, field by field") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path(), .storage = {.segment_bytes = 64 * 1024}});
  broker.declare_queue("inherits", {.durability = Durability::none});
  broker.declare_queue("small",
                       {.durability = Durability::none, .storage = {.segment_bytes = 8192}});
  broker.declare_queue("preallocated", {.durability = Durability::none,
                                        .storage = {.preallocate = Preallocate::full}});
  broker.declare_topic("events",
                       {.durability = Durability::none, .storage = {.segment_bytes = 8192}});
  auto producer = broker.producer();
  for (int i = 0; i < 50; ++i) {
    for (const char* name : {"inherits", "small", "preallocated", "events"}) {
      REQUIRE(producer.send(name, payload(i, 500)));
    }
  }
  const auto queue_segments = [&](const char* name) {
    return segment_files(dir.path() / "queues" / name / "messages");
  };
  CHECK(queue_segments("inherits").size() == 1);  // 50 * ~600 bytes in 64 KiB segments
  CHECK(queue_segments("small").size() >= 4);     // ... in 8 KiB segments
  CHECK(segment_files(dir.path() / "topics" / "events" / "p0").size() >= 4);
  // Preallocated: the broker's 64 KiB segment size, reserved at once; the others grew.
  CHECK(bytes_of_file(queue_segments("preallocated").front()) == 64 * 1024);
  CHECK(bytes_of_file(queue_segments("inherits").front()) <= 32 * 1024);
}

TEST_CASE(
    "storage options are kept in the catalog: a restart re-declares with them and an equal declare "
    "is accepted") {
  ScratchDir dir;
  const QueueOptions queue{.durability = Durability::batch,
                           .storage = {.segment_bytes = 1 << 20,
                                       .preallocate = Preallocate::full,
                                       .flush_interval = 20ms,
                                       .flush_bytes = 4096}};
  const TopicOptions topic{
      .partitions = 2, .durability = Durability::none, .storage = {.segment_bytes = 32 * 1024}};
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", queue);
    broker.declare_topic("events", topic);
  }
  Broker broker({.data_dir = dir.path()});
  CHECK(broker.queue("jobs").options().storage == queue.storage);
  CHECK(broker.topic("events").options().storage == topic.storage);
  CHECK_NOTHROW(broker.declare_queue("jobs", queue));
  CHECK_NOTHROW(broker.declare_topic("events", topic));
  QueueOptions other = queue;
  other.storage.flush_bytes = 8192;
  CHECK(code_of([&] { broker.declare_queue("jobs", other); }) == Errc::option_mismatch);
}

TEST_CASE(
    "with flush_bytes 1 a batch send is synced at once - without waiting out a 1 h "
    "flush_interval") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path(), .storage = {.flush_interval = 1h, .flush_bytes = 1}});
  broker.declare_queue("jobs", {.durability = Durability::batch});
  Completed completed;
  auto producer = broker.producer();
  REQUIRE(producer.send("jobs", "one", completed.options()));
  REQUIRE(producer.send("jobs", "two", completed.options()));
  REQUIRE(completed.wait_for(2, 20s));  // bounded: fails here if the 1 h interval were waited out
  std::lock_guard lock(completed.m);
  CHECK_FALSE(completed.failed);
}

TEST_CASE(
    "with a 1 h flush_interval and a large flush_bytes a batch send stays unsynced until the queue "
    "closes") {
  ScratchDir dir;
  Completed completed;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", {.durability = Durability::batch,
                                  .storage = {.flush_interval = 1h, .flush_bytes = 1 << 30}});
    auto producer = broker.producer();
    REQUIRE(producer.send("jobs", "one", completed.options()));
    // The default 5 ms interval would have synced it long before.
    CHECK_FALSE(completed.wait_for(1, 300ms));
  }
  // Closing the broker syncs what is pending and fires the completion.
  CHECK(completed.wait_for(1, 1s));
}
