// VirtualClock: time jumps to the next deadline exactly when every thread of the test is
// blocked on the broker; advance() waits for threads that have not started waiting yet; a flow
// that can never go on is reported instead of hanging.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "switchyard/switchyard.hpp"
#include "switchyard/testing.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::testing::VirtualClock;

namespace {

/// Real time a test may take at most: virtual hours must cost real milliseconds.
constexpr auto kRealBudget = 5s;

struct Fixture {
  std::shared_ptr<VirtualClock> clock = std::make_shared<VirtualClock>();
  Broker broker{BrokerOptions{.clock = clock}};
  TimePoint start = clock->now();
  std::chrono::steady_clock::time_point real_start = std::chrono::steady_clock::now();
  [[nodiscard]] Duration virtual_elapsed() const { return clock->now() - start; }
  [[nodiscard]] auto real_elapsed() const { return std::chrono::steady_clock::now() - real_start; }
};

}  // namespace

TEST_CASE("a receive on an empty queue times out at once, exactly at its virtual deadline",
          "[virtual_clock]") {
  Fixture f;
  f.broker.declare_queue("q");
  auto consumer = f.broker.consumer("q");
  auto got = consumer.receive(5s);
  REQUIRE_FALSE(got);
  CHECK(got.code() == Errc::timed_out);
  CHECK(f.virtual_elapsed() == 5s);
  CHECK(f.real_elapsed() < kRealBudget);
}

TEST_CASE("a broken flow fails fast instead of hanging: the awaited reply never comes",
          "[virtual_clock]") {
  Fixture f;
  f.broker.declare_queue("orders");
  f.broker.declare_queue("invoices");
  // The flow under test should turn each order into an invoice; this handler is broken and
  // forgets to send it.
  auto handler = f.broker.consumer("orders");
  handler.run([](Delivery&) {});
  auto producer = f.broker.producer();
  REQUIRE(producer.send("orders", "order-1"));
  auto invoices = f.broker.consumer("invoices");
  auto invoice = invoices.receive(30s);
  CHECK(invoice.code() == Errc::timed_out);
  CHECK(f.virtual_elapsed() >= 30s);
  CHECK(f.real_elapsed() < kRealBudget);
  handler.stop();
}

TEST_CASE("a delayed message is received exactly when its delay ends", "[virtual_clock]") {
  Fixture f;
  f.broker.declare_queue("q");
  auto producer = f.broker.producer();
  REQUIRE(producer.send("q", "later", SendOptions{.delay = 1h}));
  auto consumer = f.broker.consumer("q");
  auto got = consumer.receive(2h);
  REQUIRE(got);
  CHECK(got->payload().as_string() == "later");
  CHECK(f.virtual_elapsed() == 1h);
}

TEST_CASE("retries with backoff over hours of virtual time run in real milliseconds",
          "[virtual_clock]") {
  Fixture f;
  f.broker.declare_queue("failed");
  f.broker.declare_queue(
      "jobs", QueueOptions{.max_deliveries = 6,
                           .dead_letter = "failed",
                           .retry_backoff = Backoff{.initial = 1min, .multiplier = 4, .max = 4h}});
  std::atomic<int> attempts{0};
  auto worker = f.broker.consumer("jobs");
  worker.run([&](Delivery&) {
    attempts.fetch_add(1, std::memory_order_relaxed);
    throw std::runtime_error("downstream is down");
  });
  auto producer = f.broker.producer();
  REQUIRE(producer.send("jobs", "job-1"));
  auto dead = f.broker.consumer("failed");
  auto got = dead.receive(24h);
  REQUIRE(got);
  worker.stop();
  CHECK(attempts.load(std::memory_order_relaxed) == 6);
  // 1 + 4 + 16 + 64 + 240 (capped) minutes of backoff between six attempts.
  CHECK(f.virtual_elapsed() >= 325min);
  CHECK(f.virtual_elapsed() < 326min);
  CHECK(f.real_elapsed() < kRealBudget);
}

TEST_CASE("advance waits for a thread that has not started waiting yet", "[virtual_clock]") {
  // Manual mode: only advance moves time, so a receive that began after the advance would hang.
  auto clock = std::make_shared<VirtualClock>(VirtualClock::Options{.auto_advance = false});
  Broker broker{BrokerOptions{.clock = clock}};
  broker.declare_queue("q");
  const TimePoint start = clock->now();
  std::atomic<std::int64_t> entered_at{0};
  Errc outcome = Errc::ok;
  std::thread receiver = clock->thread([&] {
    auto consumer = broker.consumer("q");
    entered_at.store((clock->now() - start).count(), std::memory_order_relaxed);
    outcome = consumer.receive(5s).code();
  });
  // Without a pause: advance moves time only once the receiver is blocked in its receive.
  CHECK(clock->advance(10s) == start + 10s);
  clock->join(receiver);
  CHECK(entered_at.load(std::memory_order_relaxed) == 0);
  CHECK(outcome == Errc::timed_out);
}

TEST_CASE("advance stops at each deadline on the way, so each sleeper sees its own time",
          "[virtual_clock]") {
  auto clock = std::make_shared<VirtualClock>(VirtualClock::Options{.auto_advance = false});
  Broker broker{BrokerOptions{.clock = clock}};
  broker.declare_queue("q");
  const TimePoint start = clock->now();
  std::atomic<std::int64_t> woke_at{0};
  std::thread receiver = clock->thread([&] {
    auto consumer = broker.consumer("q");
    (void)consumer.receive(3s);
    woke_at.store((clock->now() - start).count(), std::memory_order_relaxed);
  });
  (void)clock->advance(1h);
  clock->join(receiver);
  CHECK(Duration(woke_at.load(std::memory_order_relaxed)) == 3s);
  CHECK(clock->now() == start + 1h);
}

namespace {

/// What the clock reports when a group member polls, without a timeout, a topic `options`
/// declares and nothing will ever append to; and how much virtual time passed until then.
struct Deadlock {
  std::string report;
  Duration waited{};
};
Deadlock poll_forever(const TopicOptions& options) {
  std::atomic<GroupConsumer*> member_of_thread{nullptr};
  Deadlock out;
  auto clock = std::make_shared<VirtualClock>(
      VirtualClock::Options{.on_deadlock = [&](const std::string& what) {
        out.report = what;
        // Unblock the flow (wakeup may be called from any thread and takes no clock lock).
        if (auto* m = member_of_thread.load(std::memory_order_acquire)) m->wakeup();
      }});
  Broker broker{BrokerOptions{.clock = clock}};
  broker.declare_topic("t", options);
  const TimePoint start = clock->now();
  std::thread poller = clock->thread([&] {
    auto member = broker.group_consumer("t", "g");
    member_of_thread.store(&member, std::memory_order_release);
    auto batch = member.poll(10, Duration::max());  // nothing will ever be appended
    member_of_thread.store(nullptr, std::memory_order_release);
  });
  clock->join(poller);
  out.waited = clock->now() - start;
  return out;
}

}  // namespace

TEST_CASE("a flow blocked with no deadline is reported as a deadlock instead of hanging",
          "[virtual_clock]") {
  const Deadlock deadlock = poll_forever({});
  CHECK_THAT(deadlock.report, Catch::Contains("blocked"));
  CHECK_THAT(deadlock.report, Catch::Contains("no deadline"));
}

// A compacted topic's compactor runs on the broker's clock: its pass comes when virtual time
// passes its tick (here: advance), alone, while the test's thread waits — not after a real
// second, racing the test.
TEST_CASE("a compacted topic is compacted when virtual time passes its compaction tick",
          "[virtual_clock][compaction]") {
  Fixture f;
  auto topic = f.broker.declare_topic("state", {.cleanup = Cleanup::compact});
  auto producer = f.broker.producer();
  // 10 keys overwritten: the memory log seals a chunk every 1024 records, and compaction
  // removes every record of a sealed chunk whose key has a later one.
  for (int i = 0; i < 2500; ++i) {
    const char key[] = {'k', static_cast<char>('0' + i % 10), '\0'};
    REQUIRE(producer.send("state", std::to_string(i), {.key = key}));
  }
  CHECK(topic.stats().compacted_away == 0);  // no time has passed: no pass has run
  f.clock->advance(2s);                      // two ticks: the second finds nothing more
  const TopicStats stats = topic.stats();
  CHECK(stats.compacted_away == 2048);
  CHECK(stats.compactions == 1);
}

// The compactor's tick is a deadline of maintenance, not of the flow: a flow that can never go
// on is still reported at once, not carried through a year of one-second ticks.
TEST_CASE("a compaction tick does not hide a flow blocked with no deadline",
          "[virtual_clock][compaction]") {
  const Deadlock deadlock = poll_forever({.cleanup = Cleanup::compact});
  CHECK_THAT(deadlock.report, Catch::Contains("no deadline"));
  CHECK(deadlock.waited < 1s);  // stuck at once: no tick was taken for its own sake
}

TEST_CASE("a publisher's subscription handler runs before virtual time moves on",
          "[virtual_clock]") {
  Fixture f;
  std::atomic<int> handled{0};
  auto sub = f.broker.subscribe(
      "news", [&](const Message&) { handled.fetch_add(1, std::memory_order_relaxed); });
  REQUIRE(f.broker.publish("news", "hello") == 1);
  f.clock->wait_until_idle();
  CHECK(handled.load(std::memory_order_relaxed) == 1);
  CHECK(f.virtual_elapsed() == 0s);
}
