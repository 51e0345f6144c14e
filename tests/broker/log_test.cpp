// The log sink (BrokerOptions::log) hears what a service must hear — recovery repairs, handler
// exceptions, dropped messages — with per-message events aggregated, never one line each.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/file.hpp"
#include "storage/segment_format.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace switchyard::test;
using switchyard::test::Installed;
using switchyard::test::read_all;
using switchyard::test::ScratchDir;
using switchyard::test::segment_files;
using switchyard::test::write_all;

namespace {

struct Line {
  LogLevel level;
  std::string component;
  std::string message;
};

/// A thread-safe sink that keeps every line.
class Lines {
 public:
  LogSink sink() {
    return [this](LogLevel level, std::string_view component, std::string_view message) {
      const std::lock_guard lock(mutex_);
      lines_.push_back({level, std::string(component), std::string(message)});
    };
  }
  std::vector<Line> of(std::string_view component) const {
    const std::lock_guard lock(mutex_);
    std::vector<Line> out;
    for (const auto& l : lines_) {
      if (l.component == component) out.push_back(l);
    }
    return out;
  }
  std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return lines_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Line> lines_;
};

}  // namespace

TEST_CASE("a torn tail truncated at open is logged as a recovery warning naming file and offset") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", {.durability = Durability::none});
    auto producer = broker.producer();
    for (int i = 0; i < 3; ++i) REQUIRE(producer.send("jobs", "job-" + std::to_string(i)));
  }
  const auto files = segment_files(dir / "queues/jobs/messages");
  REQUIRE(files.size() == 1);
  auto bytes = read_all(files.front());
  auto scan = detail::scan_segment(bytes, files.front().string(), {});
  REQUIRE(scan);
  const std::size_t tail = scan->valid_end;
  for (std::size_t i = 0; i < 16; ++i) bytes[tail + i] = std::byte{0xAB};  // a torn append
  write_all(files.front(), bytes);

  Lines lines;
  Broker broker({.log = lines.sink(), .data_dir = dir.path()});
  const auto recovery = lines.of("recovery");
  REQUIRE(recovery.size() == 2);  // the repair, then the stream's summary
  CHECK(recovery[0].level == LogLevel::warning);
  CHECK_THAT(recovery[0].message,
             Catch::StartsWith("queue 'jobs': ") && Catch::Contains(files.front().string()) &&
                 Catch::Contains("offset " + std::to_string(tail)) && Catch::Contains("truncated"));
  CHECK_THAT(recovery[1].message, Catch::Contains("queue 'jobs' repaired") &&
                                      Catch::Contains("16 torn-tail bytes truncated") &&
                                      Catch::Contains("3 restored"));
  CHECK(broker.queue("jobs").stats().recovered == 3);
}

TEST_CASE("a clean reopen logs nothing") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", {.durability = Durability::none});
    REQUIRE(broker.producer().send("jobs", "a"));
  }
  Lines lines;
  Broker broker({.log = lines.sink(), .data_dir = dir.path()});
  CHECK(broker.queue("jobs").stats().recovered == 1);
  CHECK(lines.size() == 0);
}

TEST_CASE("a push consumer's handler exception is logged as an error with its what()") {
  Lines lines;
  Broker broker({.log = lines.sink()});
  broker.declare_queue("jobs", {.max_deliveries = 1});
  REQUIRE(broker.producer().send("jobs", "poison"));
  auto consumer = broker.consumer("jobs");
  consumer.run([](Delivery&) { throw std::runtime_error("cannot parse order"); });
  REQUIRE(eventually([&] { return !lines.of("consumer").empty(); }));
  consumer.stop();
  const auto logged = lines.of("consumer");
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].level == LogLevel::error);
  CHECK_THAT(logged[0].message,
             Catch::Contains("queue 'jobs'") && Catch::Contains("cannot parse order"));
}

TEST_CASE("a pub/sub handler's exception is logged as an error with its what()") {
  Lines lines;
  Broker broker({.log = lines.sink()});
  auto subscription =
      broker.subscribe("news", [](const Message&) { throw std::runtime_error("bad news"); });
  CHECK(broker.publish("news", "x") == 1);
  REQUIRE(eventually([&] { return !lines.of("pubsub").empty(); }));
  const auto logged = lines.of("pubsub");
  CHECK(logged[0].level == LogLevel::error);
  CHECK_THAT(logged[0].message, Catch::Contains("'news'") && Catch::Contains("bad news"));
}

TEST_CASE("dropped messages are logged at once and then at most once a second with the count") {
  auto clock = std::make_shared<ManualClock>();
  Lines lines;
  Broker broker({.clock = clock, .log = lines.sink()});
  broker.declare_queue("jobs");  // no dead-letter queue: a reject drops
  auto producer = broker.producer();
  auto consumer = broker.consumer("jobs");
  auto reject_one = [&] {
    REQUIRE(producer.send("jobs", "x"));
    auto delivery = consumer.receive();
    REQUIRE(delivery);
    REQUIRE(delivery->reject("invalid"));
  };
  reject_one();
  REQUIRE(lines.of("queue").size() == 1);
  CHECK(lines.of("queue")[0].level == LogLevel::warning);
  CHECK_THAT(lines.of("queue")[0].message,
             Catch::Contains("queue 'jobs': 1 message(s) dropped") &&
                 Catch::Contains("latest: invalid, no dead-letter queue"));
  for (int i = 0; i < 100; ++i) reject_one();
  CHECK(lines.of("queue").size() == 1);  // within the second: counted, not logged
  clock->advance(std::chrono::seconds(1));
  reject_one();
  REQUIRE(lines.of("queue").size() == 2);
  CHECK_THAT(lines.of("queue")[1].message, Catch::Contains("101 message(s) dropped"));
  CHECK(broker.queue("jobs").stats().dropped == 102);
}

TEST_CASE("messages expiring under OnExpiry::drop are logged as dropped") {
  auto clock = std::make_shared<ManualClock>();
  Lines lines;
  Broker broker({.clock = clock, .log = lines.sink()});
  broker.declare_queue("jobs", {.ttl = std::chrono::seconds(1), .on_expiry = OnExpiry::drop});
  REQUIRE(broker.producer().send("jobs", "x"));
  clock->advance(std::chrono::seconds(2));
  auto jobs = broker.consumer("jobs");
  CHECK(jobs.receive().code() == Errc::timed_out);
  REQUIRE(lines.of("queue").size() == 1);
  CHECK_THAT(lines.of("queue")[0].message, Catch::Contains("latest: expired"));
}

TEST_CASE("a pub/sub subscriber's full buffer logs its drops") {
  Lines lines;
  Broker broker({.log = lines.sink()});
  std::atomic<bool> release{false};
  auto subscription = broker.subscribe(
      "news", [&](const Message&) { (void)eventually([&] { return release.load(); }); },
      {.buffer = 1});
  // The handler holds the first message it takes and the buffer is bounded: of 100 publishes
  // some are dropped, however the handler thread is scheduled (with 3, a handler that had
  // already taken the first left room for the other two).
  std::size_t buffered = 0;
  for (int i = 0; i < 100; ++i) buffered += broker.publish("news", "x");
  release.store(true);
  CHECK(buffered < 100);
  REQUIRE_FALSE(lines.of("pubsub").empty());
  CHECK(lines.of("pubsub")[0].level == LogLevel::warning);
  CHECK_THAT(lines.of("pubsub")[0].message,
             Catch::Contains("'news'") && Catch::Contains("dropped"));
}

TEST_CASE("a sink that throws does not fail the operation that logs") {
  auto clock = std::make_shared<ManualClock>();
  std::atomic<int> calls{0};
  Broker broker({.clock = clock, .log = [&](LogLevel, std::string_view, std::string_view) {
                   calls.fetch_add(1);
                   throw std::runtime_error("sink down");
                 }});
  broker.declare_queue("jobs");
  REQUIRE(broker.producer().send("jobs", "x"));
  auto consumer = broker.consumer("jobs");
  auto delivery = consumer.receive();
  REQUIRE(delivery);
  REQUIRE(delivery->reject());
  CHECK(calls.load() == 1);
  CHECK(broker.queue("jobs").stats().dropped == 1);
}

namespace {

/// Fails every sync of a file whose path contains `part` with EIO.
class FailingSync : public detail::FaultInjector {
 public:
  explicit FailingSync(std::string part) : part_(std::move(part)) {}
  int on_sync(std::string_view path) noexcept override {
    return path.find(part_) != std::string_view::npos ? EIO : 0;
  }

 private:
  std::string part_;
};

}  // namespace

TEST_CASE("a failed sync that makes a durable queue read-only is logged as a storage error") {
  ScratchDir dir;
  Lines lines;
  Broker broker({.log = lines.sink(), .data_dir = dir.path()});
  broker.declare_queue("jobs", {.durability = Durability::always});
  FailingSync failing("queues/jobs/messages");
  Installed installed(failing);
  auto sent = broker.producer().send("jobs", "x");
  CHECK(sent.code() == Errc::io_error);
  INFO(sent.message());
  CHECK(broker.producer().send("jobs", "y").code() == Errc::io_error);
  const auto logged = lines.of("storage");
  REQUIRE(logged.size() == 1);  // once, when the log turned read-only
  CHECK(logged[0].level == LogLevel::error);
  CHECK_THAT(logged[0].message,
             Catch::StartsWith("queue 'jobs': ") && Catch::Contains("read-only"));
}
