// DurableSandbox: a durable flow survives a restart — what was accepted is there, what was acked
// is not delivered again, an unacked delivery comes back — with one clock and one trace.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

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
  testing::DurableSandbox sandbox{{.broker = {.clock = clock, .interceptors = {recorder}}}};
};

std::vector<std::string> drain(Broker& broker, std::string_view queue) {
  auto consumer = broker.consumer(queue);
  std::vector<std::string> out;
  while (auto d = consumer.receive(0s)) {
    out.push_back(std::string(d->message().payload().as_string()) + "#" +
                  std::to_string(d->attempt()));
    REQUIRE(d->ack());
  }
  return out;
}

}  // namespace

TEST_CASE("a durable queue's flow survives a restart: acked stays acked, in flight comes back",
          "[durable_sandbox]") {
  Fixture f;
  {
    Broker& broker = f.sandbox.broker();
    broker.declare_queue("orders", QueueOptions{.durability = Durability::always});
    auto producer = broker.producer();
    for (const char* o : {"o1", "o2", "o3"}) REQUIRE(producer.send("orders", o));
    auto consumer = broker.consumer("orders");
    auto first = consumer.receive(0s);
    REQUIRE(first);
    REQUIRE(first->ack());
    auto second = consumer.receive(0s);  // in flight when the broker goes
    REQUIRE(second);
    CHECK(second->message().payload().as_string() == "o2");
  }
  const TimePoint before = f.clock->now();
  Broker& broker = f.sandbox.restart();
  CHECK(f.sandbox.restarts() == 1);
  CHECK(f.clock->now() == before);  // the same clock: virtual time goes on
  CHECK(broker.queue("orders").options().durability == Durability::always);  // re-declared
  CHECK(drain(broker, "orders") == std::vector<std::string>{"o2#2", "o3#1"});
  // One trace across both brokers: o1 acked once, o2 acked after its second delivery.
  CHECK(f.recorder->consumed("orders").size() == 3);
  CHECK(f.recorder->sent("orders").size() == 3);
}

TEST_CASE("a group resumes after a restart from the offset it committed", "[durable_sandbox]") {
  Fixture f;
  {
    Broker& broker = f.sandbox.broker();
    broker.declare_topic("clicks", TopicOptions{.partitions = 1, .durability = Durability::always});
    testing::Dispatcher dispatcher(broker, f.clock);
    int handled = 0;
    // Joins at the latest offset: before the sends.
    dispatcher.consume("clicks", "analytics", [&](const Record&) { ++handled; });
    auto producer = broker.producer();
    for (const char* c : {"c0", "c1", "c2"}) REQUIRE(producer.send("clicks", c));
    REQUIRE(dispatcher.step());  // c0 is handled and committed, c1 and c2 are not
    CHECK(handled == 1);
  }
  REQUIRE(f.recorder->await_committed("clicks", "analytics", 0, 1, 0s));
  Broker& broker = f.sandbox.restart();
  testing::Dispatcher dispatcher(broker, f.clock);
  std::vector<std::uint64_t> offsets;
  dispatcher.consume("clicks", "analytics", [&](const Record& r) { offsets.push_back(r.offset); });
  dispatcher.run_until_idle();
  CHECK(offsets == std::vector<std::uint64_t>{1, 2});
  std::vector<std::uint64_t> commits;
  for (const auto& e : f.recorder->committed("clicks", "analytics")) commits.push_back(e.offset);
  CHECK(commits == std::vector<std::uint64_t>{1, 2, 3});
}

TEST_CASE("a sandbox makes its own directory and removes it, and keeps one it was given",
          "[durable_sandbox]") {
  std::filesystem::path made;
  {
    testing::DurableSandbox sandbox;
    made = sandbox.data_dir();
    CHECK(std::filesystem::is_directory(made));
    sandbox.broker().declare_queue("q", QueueOptions{.durability = Durability::none});
    REQUIRE(sandbox.broker().producer().send("q", "x"));
    CHECK(sandbox.restart().queue("q").depth() == 1);
  }
  CHECK_FALSE(std::filesystem::exists(made));

  const auto given = std::filesystem::temp_directory_path() / "switchyard-sandbox-test-given";
  std::filesystem::remove_all(given);
  std::filesystem::create_directories(given);
  {
    testing::DurableSandbox sandbox({.broker = {.data_dir = given}});
    sandbox.broker().declare_queue("q", QueueOptions{.durability = Durability::none});
  }
  CHECK(std::filesystem::exists(given));
  {
    testing::DurableSandbox again({.broker = {.data_dir = given}});  // the queue is there
    CHECK(again.broker().queue("q"));
  }
  std::filesystem::remove_all(given);
}

// The header's promise: the old broker's producers, consumers, deliveries and group consumers are
// closed with it. A test that keeps one by mistake gets `Errc::closed` — not a crash, not a write
// into the new broker's files: what the new broker holds is exactly what was there.
TEST_CASE(
    "handles of the broker before a restart are closed: typed errors, nothing reaches the "
    "new broker",
    "[durable_sandbox]") {
  Fixture f;
  Broker& old_broker = f.sandbox.broker();
  old_broker.declare_queue("orders", QueueOptions{.durability = Durability::always});
  old_broker.declare_topic("clicks",
                           TopicOptions{.partitions = 1, .durability = Durability::always});
  auto producer = old_broker.producer();
  REQUIRE(producer.send("orders", "o1"));
  REQUIRE(producer.send("clicks", "c1"));
  auto consumer = old_broker.consumer("orders");
  auto held = consumer.receive(0s);
  REQUIRE(held);
  auto group = old_broker.group_consumer("clicks", "analytics", {.start = Start::earliest});
  auto polled = group.poll(10);  // joins: owns partition 0, reads c1
  REQUIRE(polled);
  REQUIRE(polled->size() == 1);

  Broker& broker = f.sandbox.restart();
  CHECK(producer.send("orders", "late").code() == Errc::closed);
  CHECK(producer.send("clicks", "late").code() == Errc::closed);
  CHECK(consumer.receive(0s).code() == Errc::closed);
  CHECK_FALSE(held->ack());  // the old broker's delivery: it comes back in the new one
  CHECK(group.poll(10).code() == Errc::closed);
  const Status commit = group.commit(0, 1);
  INFO(commit.message());
  CHECK(commit.code() == Errc::closed);

  CHECK(drain(broker, "orders") == std::vector<std::string>{"o1#2"});
  CHECK(broker.topic("clicks").stats().partitions.at(0).end_offset == 1);
  auto again = broker.group_consumer("clicks", "analytics", {.start = Start::earliest});
  auto batch = again.poll(10);  // the old member's commit never landed: c1 again
  REQUIRE(batch);
  REQUIRE(batch->size() == 1);
  CHECK((*batch)[0].offset == 0);
}
