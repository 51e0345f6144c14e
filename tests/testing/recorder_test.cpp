// Recorder: every event of a flow with destination, message, attempt and virtual time; queries;
// awaits that fail fast in virtual time with a message naming what was expected and seen.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "switchyard/switchyard.hpp"
#include "switchyard/testing.hpp"
#include "switchyard/testing/catch.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using testing::EventKind;

namespace {

struct Fixture {
  std::shared_ptr<testing::VirtualClock> clock = std::make_shared<testing::VirtualClock>();
  std::shared_ptr<testing::Recorder> recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker{BrokerOptions{.clock = clock, .interceptors = {recorder}}};
};

}  // namespace

TEST_CASE("the recorder sees a message sent, received and acked, in that order", "[recorder]") {
  Fixture f;
  f.broker.declare_queue("orders");
  auto producer = f.broker.producer();
  auto id = producer.send("orders", "order-1", SendOptions{.headers = {{"tenant", "acme"}}});
  REQUIRE(id);
  auto consumer = f.broker.consumer("orders");
  auto delivery = consumer.receive(1s);
  REQUIRE(delivery);
  REQUIRE(delivery->ack());

  REQUIRE(f.recorder->sent("orders").size() == 1);
  CHECK(f.recorder->sent("orders")[0].headers.find("tenant") == "acme");
  auto journey = f.recorder->journey(*id);
  REQUIRE(journey.size() == 2);
  CHECK(journey[0].kind == EventKind::received);
  CHECK(journey[0].attempt == 1);
  CHECK(journey[1].kind == EventKind::acked);
  CHECK(f.recorder->consumed("orders").size() == 1);
  CHECK_THAT(*f.recorder, testing::Sent("orders", 1));
  CHECK_THAT(*f.recorder, testing::Consumed("orders", 1));
}

TEST_CASE("a poison message's retries and dead letter are recorded with attempts and virtual time",
          "[recorder]") {
  Fixture f;
  f.broker.declare_queue("email-failed");
  f.broker.declare_queue("email", QueueOptions{.max_deliveries = 3,
                                               .dead_letter = "email-failed",
                                               .retry_backoff = Backoff{.initial = 10s}});
  auto worker = f.broker.consumer("email");
  worker.run([](Delivery&) { throw std::runtime_error("smtp down"); });
  auto producer = f.broker.producer();
  const TimePoint start = f.clock->now();
  REQUIRE(producer.send("email", "welcome"));

  REQUIRE(f.recorder->await_dead_lettered("email-failed", 1, 5min));
  worker.stop();
  auto nacks = f.recorder->events(EventKind::nacked, "email");
  REQUIRE(nacks.size() == 3);
  CHECK(nacks[0].attempt == 1);
  CHECK(nacks[2].attempt == 3);
  // 10 s, then 20 s of backoff between the three attempts.
  CHECK(nacks[2].at - start == 30s);
  auto dead = f.recorder->dead_lettered("email");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].detail == "email-failed");
  CHECK(dead[0].reason == "max_deliveries");
  CHECK_THAT(*f.recorder, testing::DeadLettered("email-failed", 1));
}

TEST_CASE("an await that is never met fails at its virtual deadline, saying what it saw",
          "[recorder]") {
  Fixture f;
  f.broker.declare_queue("orders");
  auto producer = f.broker.producer();
  REQUIRE(producer.send("orders", "order-1"));
  const TimePoint start = f.clock->now();
  auto awaited = f.recorder->await_consumed("orders", 1, 1min);
  CHECK_FALSE(awaited);
  CHECK(f.clock->now() - start == 1min);
  CHECK_THAT(awaited.message, Catch::Contains("expected 1 acked on 'orders'"));
  CHECK_THAT(awaited.message, Catch::Contains("saw 0"));
  CHECK_THAT(awaited.message, Catch::Contains("sent orders"));
}

TEST_CASE("pub/sub deliveries and drops are recorded", "[recorder]") {
  Fixture f;
  std::atomic<int> handled{0};
  auto sub = f.broker.subscribe(
      "news", [&](const Message&) { handled.fetch_add(1, std::memory_order_relaxed); });
  REQUIRE(f.broker.publish("news", "a") == 1);
  REQUIRE(f.recorder->await_delivered("news"));
  CHECK(f.recorder->sent("news").size() == 1);
  // The delivery is recorded as the dispatch thread hands it over, just before the handler
  // runs: the handler's count follows within a bounded wait.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (handled.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  CHECK(handled.load(std::memory_order_relaxed) == 1);
  sub.unsubscribe();
}

TEST_CASE("a pub/sub message dropped by a full subscription has its own event", "[recorder]") {
  Fixture f;
  std::atomic<bool> release{false};
  auto sub = f.broker.subscribe(
      "ticks",
      [&](const Message&) {
        // Holds the dispatch thread until the test has overfilled the buffer.
        while (!release.load(std::memory_order_acquire)) std::this_thread::yield();
      },
      SubscriberOptions{.buffer = 1, .when_full = SlowSubscriber::drop});
  for (int i = 0; i < 20; ++i) (void)f.broker.publish("ticks", std::to_string(i));
  release.store(true, std::memory_order_release);
  CHECK(f.recorder->count(EventKind::dropped, "ticks") >= 1);
  CHECK(f.recorder->count(EventKind::dropped, "ticks") +
            f.recorder->count(EventKind::delivered, "ticks") <=
        20);
  sub.unsubscribe();
}

TEST_CASE("a group's commits are recorded with topic, group, partition and offset, once each",
          "[recorder][commit]") {
  Fixture f;
  f.broker.declare_topic("clicks", TopicOptions{.partitions = 1});
  auto analytics = f.broker.group_consumer("clicks", "analytics", {.start = Start::earliest});
  auto billing = f.broker.group_consumer("clicks", "billing", {.start = Start::earliest});
  auto producer = f.broker.producer();
  REQUIRE(producer.send("clicks", "c0"));
  REQUIRE(producer.send("clicks", "c1"));
  auto batch = analytics.poll(10, 0s);
  REQUIRE(batch);
  REQUIRE(batch->size() == 2);
  REQUIRE(analytics.commit());
  REQUIRE(analytics.commit());   // nothing moved: no second event
  REQUIRE(billing.poll(1, 0s));  // joins, takes c0
  REQUIRE(billing.commit());

  auto commits = f.recorder->committed("clicks", "analytics");
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].group == "analytics");
  CHECK(commits[0].partition == 0);
  CHECK(commits[0].offset == 2);
  CHECK(commits[0].detail == "analytics/0@2");
  CHECK(f.recorder->committed("clicks").size() == 2);
  CHECK(f.recorder->committed("clicks", "billing").at(0).offset == 1);
  // After the polls in the trace: a commit follows what it commits.
  const auto events = f.recorder->events();
  CHECK(events.back().kind == EventKind::committed);
  CHECK(f.recorder->events(EventKind::polled, "clicks").at(1).offset == 1);
  CHECK_THAT(f.recorder->trace(), Catch::Contains("committed clicks (analytics/0@2)"));
  REQUIRE(f.recorder->await_committed("clicks", "analytics", 0, 2, 0s));
}

TEST_CASE(
    "a dispatcher's group member commits after each record, and an await for a commit "
    "that never comes fails in virtual time",
    "[recorder][commit]") {
  Fixture f;
  f.broker.declare_topic("orders", TopicOptions{.partitions = 1});
  testing::Dispatcher dispatcher(f.broker, f.clock);
  std::vector<std::string> seen;
  // A group member joins at the latest offset: it is registered before the sends.
  dispatcher.consume("orders", "shipping",
                     [&](const Record& r) { seen.emplace_back(r.message.payload().as_string()); });
  auto producer = f.broker.producer();
  for (const char* o : {"o1", "o2", "o3"}) REQUIRE(producer.send("orders", o));
  dispatcher.run_until_idle();
  REQUIRE(seen.size() == 3);
  std::vector<std::uint64_t> offsets;
  for (const auto& e : f.recorder->committed("orders", "shipping")) offsets.push_back(e.offset);
  CHECK(offsets == std::vector<std::uint64_t>{1, 2, 3});

  const TimePoint start = f.clock->now();
  auto awaited = f.recorder->await_committed("orders", "shipping", 0, 4, 1min);
  CHECK_FALSE(awaited);
  CHECK(f.clock->now() - start == 1min);
  CHECK_THAT(awaited.message, Catch::Contains("a commit of offset 4 or later on 'orders'"));
  CHECK_THAT(awaited.message, Catch::Contains("committed orders (shipping/0@3)"));
}
