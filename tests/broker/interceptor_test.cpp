// Interceptors see every path a message takes — receive, group poll, pub/sub delivery, ack,
// nack, reject, redelivery, dead letter, expiry — exactly once per event, with the destination
// and what identifies the message, on in-memory and durable queues alike.
#include <catch2/catch.hpp>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace switchyard::test;
using switchyard::test::ScratchDir;

namespace {

/// One hook call, as the recorder saw it.
struct Event {
  std::string hook;         // "receive", "ack", ...
  std::string destination;  // the queue, topic or channel
  MessageId id = 0;
  std::uint32_t attempt = 0;
  std::string detail;       // reason, dead-letter queue, group, redelivery cause
  std::string traceparent;  // the message's traceparent header, if any
};

/// Records every hook call (but on_send, which has no message yet: it only counts).
class Recorder : public Interceptor {
 public:
  void on_send(std::string_view, Headers&) override {
    const std::lock_guard lock(mutex_);
    ++sends_;
  }
  void on_receive(std::string_view queue, const Delivery& d) override {
    add({"receive", std::string(queue), d.id(), d.attempt(), {}, trace(d.message())});
  }
  void on_poll(std::string_view topic, std::string_view group, const Record& r) override {
    add({"poll", std::string(topic), r.id(), 0,
         std::string(group) + "/" + std::to_string(r.partition) + "@" + std::to_string(r.offset),
         trace(r.message)});
  }
  void on_deliver(std::string_view channel, const Message& m) override {
    add({"deliver", std::string(channel), m.id(), 0, std::string(m.payload().as_string()),
         trace(m)});
  }
  void on_ack(std::string_view queue, const Message& m, std::uint32_t attempt) override {
    add({"ack", std::string(queue), m.id(), attempt, {}, trace(m)});
  }
  void on_nack(std::string_view queue, const Message& m, std::uint32_t attempt) override {
    add({"nack", std::string(queue), m.id(), attempt, {}, trace(m)});
  }
  void on_reject(std::string_view queue, const Message& m, std::uint32_t attempt,
                 std::string_view reason) override {
    add({"reject", std::string(queue), m.id(), attempt, std::string(reason), trace(m)});
  }
  void on_redelivery(std::string_view queue, const Message& m, std::uint32_t attempt,
                     Redelivery why) override {
    add({"redelivery", std::string(queue), m.id(), attempt,
         why == Redelivery::visibility_timeout ? "visibility_timeout" : "consumer_closed",
         trace(m)});
  }
  void on_expire(std::string_view queue, const Message& m, std::uint32_t attempt) override {
    add({"expire", std::string(queue), m.id(), attempt, {}, trace(m)});
  }
  void on_dead_letter(std::string_view queue, const Message& m, std::string_view reason,
                      std::string_view to) override {
    add({"dead_letter", std::string(queue), m.id(), 0, std::string(reason) + "->" + std::string(to),
         trace(m)});
  }

  /// The hooks called so far, in order.
  std::vector<std::string> hooks() const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.hook);
    return out;
  }
  std::vector<Event> events() const {
    const std::lock_guard lock(mutex_);
    return events_;
  }
  /// The one event of `hook` (fails unless there is exactly one).
  Event only(const std::string& hook) const {
    std::vector<Event> found;
    for (const auto& e : events()) {
      if (e.hook == hook) found.push_back(e);
    }
    REQUIRE(found.size() == 1);
    return found.front();
  }
  int sends() const {
    const std::lock_guard lock(mutex_);
    return sends_;
  }
  void clear() {
    const std::lock_guard lock(mutex_);
    events_.clear();
  }

 private:
  static std::string trace(const Message& m) {
    return std::string(m.headers().get(kTraceparentHeader));
  }
  void add(Event e) {
    const std::lock_guard lock(mutex_);
    events_.push_back(std::move(e));
  }
  mutable std::mutex mutex_;
  std::vector<Event> events_;
  int sends_ = 0;
};

using Hooks = std::vector<std::string>;

/// A broker on a manual clock with a recorder installed; durable destinations when asked
/// (in a scratch data directory).
struct Traced {
  explicit Traced(bool durable)
      : durable(durable),
        broker(BrokerOptions{.clock = clock,
                             .interceptors = {recorder},
                             .data_dir = durable ? dir.path() : std::filesystem::path{}}) {}

  QueueOptions queue(QueueOptions options = {}) const {
    options.durability = durable ? Durability::none : Durability::memory;
    return options;
  }

  bool durable;
  ScratchDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  Broker broker;
  Producer producer = broker.producer();
};

}  // namespace

TEST_CASE(
    "an acked delivery is seen once by on_receive and once by on_ack with its id and attempt") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_queue("jobs", t.queue());
  auto sent = t.producer.send("jobs", "a");
  REQUIRE(sent);
  auto consumer = t.broker.consumer("jobs");
  auto delivery = consumer.receive();
  REQUIRE(delivery);
  REQUIRE(delivery->ack());
  CHECK(t.recorder->hooks() == Hooks{"receive", "ack"});
  const Event ack = t.recorder->only("ack");
  CHECK(ack.destination == "jobs");
  CHECK(ack.id == *sent);
  CHECK(ack.attempt == 1);
  // A second ack is stale: no second event.
  CHECK(delivery->ack().code() == Errc::stale_delivery);
  CHECK(t.recorder->hooks() == Hooks{"receive", "ack"});
}

TEST_CASE("a nacked delivery is seen by on_nack and its redelivery arrives with attempt 2") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_queue("jobs", t.queue());
  auto sent = t.producer.send("jobs", "a");
  REQUIRE(sent);
  auto consumer = t.broker.consumer("jobs");
  auto first = consumer.receive();
  REQUIRE(first);
  REQUIRE(first->nack());
  auto second = consumer.receive();
  REQUIRE(second);
  REQUIRE(second->ack());
  REQUIRE(t.recorder->hooks() == Hooks{"receive", "nack", "receive", "ack"});
  const auto events = t.recorder->events();
  CHECK(events[1].id == *sent);
  CHECK(events[1].attempt == 1);
  CHECK(events[3].attempt == 2);
}

TEST_CASE(
    "a rejected delivery is seen by on_reject with its reason - then by on_dead_letter "
    "naming the dead-letter queue") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_queue("jobs.dlq", t.queue());
  t.broker.declare_queue("jobs", t.queue({.dead_letter = "jobs.dlq"}));
  auto sent = t.producer.send("jobs", "poison");
  REQUIRE(sent);
  auto consumer = t.broker.consumer("jobs");
  auto delivery = consumer.receive();
  REQUIRE(delivery);
  REQUIRE(delivery->reject("bad payload"));
  CHECK(t.recorder->hooks() == Hooks{"receive", "reject", "dead_letter"});
  CHECK(t.recorder->only("reject").detail == "bad payload");
  const Event dead = t.recorder->only("dead_letter");
  CHECK(dead.destination == "jobs");
  CHECK(dead.id == *sent);
  CHECK(dead.detail == "bad payload->jobs.dlq");
  auto dead_letters = t.broker.consumer("jobs.dlq");
  auto letter = dead_letters.receive();
  REQUIRE(letter);
  CHECK(letter->headers().get("x-death-reason") == "bad payload");
}

TEST_CASE(
    "nack(false) is a reject with reason 'rejected' - without a dead-letter queue the "
    "dead letter names none") {
  Traced t(false);
  t.broker.declare_queue("jobs", t.queue());
  REQUIRE(t.producer.send("jobs", "a"));
  auto consumer = t.broker.consumer("jobs");
  auto delivery = consumer.receive();
  REQUIRE(delivery);
  REQUIRE(delivery->nack(false));
  CHECK(t.recorder->hooks() == Hooks{"receive", "reject", "dead_letter"});
  CHECK(t.recorder->only("reject").detail == "rejected");
  CHECK(t.recorder->only("dead_letter").detail == "rejected->");
}

TEST_CASE(
    "a delivery not acked within its visibility timeout is seen by on_redelivery - then "
    "comes back with attempt 2") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_queue("jobs", t.queue({.visibility_timeout = 10s}));
  auto sent = t.producer.send("jobs", "slow");
  REQUIRE(sent);
  auto consumer = t.broker.consumer("jobs");
  auto first = consumer.receive();
  REQUIRE(first);
  t.clock->advance(11s);
  auto second = consumer.receive();
  REQUIRE(second);
  CHECK(second->attempt() == 2);
  CHECK(first->ack().code() == Errc::stale_delivery);  // taken back: no on_ack for it
  REQUIRE(second->ack());
  CHECK(t.recorder->hooks() == Hooks{"receive", "redelivery", "receive", "ack"});
  const Event back = t.recorder->only("redelivery");
  CHECK(back.id == *sent);
  CHECK(back.attempt == 1);
  CHECK(back.detail == "visibility_timeout");
}

TEST_CASE("a consumer closed holding a delivery is seen by on_redelivery as consumer_closed") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_queue("jobs", t.queue());
  REQUIRE(t.producer.send("jobs", "held"));
  {
    auto consumer = t.broker.consumer("jobs");
    auto held = consumer.receive();
    REQUIRE(held);
    consumer.close();
  }
  CHECK(t.recorder->hooks() == Hooks{"receive", "redelivery"});
  CHECK(t.recorder->only("redelivery").detail == "consumer_closed");
}

TEST_CASE(
    "a delivery nacked at max_deliveries is seen by on_nack - then dead-lettered for "
    "max_deliveries") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_queue("jobs.dlq", t.queue());
  t.broker.declare_queue("jobs", t.queue({.max_deliveries = 2, .dead_letter = "jobs.dlq"}));
  REQUIRE(t.producer.send("jobs", "poison"));
  auto consumer = t.broker.consumer("jobs");
  for (int i = 0; i < 2; ++i) {
    auto delivery = consumer.receive();
    REQUIRE(delivery);
    REQUIRE(delivery->nack());
  }
  CHECK(t.recorder->hooks() == Hooks{"receive", "nack", "receive", "nack", "dead_letter"});
  CHECK(t.recorder->only("dead_letter").detail == "max_deliveries->jobs.dlq");
}

TEST_CASE("an expired message is seen by on_expire - then dead-lettered as expired") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_queue("jobs.dlq", t.queue());
  t.broker.declare_queue("jobs", t.queue({.dead_letter = "jobs.dlq"}));
  auto sent = t.producer.send("jobs", "stale", {.ttl = 5s});
  REQUIRE(sent);
  t.clock->advance(6s);
  auto consumer = t.broker.consumer("jobs");
  CHECK(consumer.receive().code() == Errc::timed_out);
  CHECK(t.recorder->hooks() == Hooks{"expire", "dead_letter"});
  const Event expired = t.recorder->only("expire");
  CHECK(expired.id == *sent);
  CHECK(expired.attempt == 0);  // never delivered
  CHECK(t.recorder->only("dead_letter").detail == "expired->jobs.dlq");
}

TEST_CASE("a message expiring under OnExpiry::drop is seen by on_expire only") {
  Traced t(false);
  t.broker.declare_queue("jobs", t.queue({.ttl = 5s, .on_expiry = OnExpiry::drop}));
  REQUIRE(t.producer.send("jobs", "stale"));
  t.clock->advance(6s);
  auto consumer = t.broker.consumer("jobs");
  CHECK(consumer.receive().code() == Errc::timed_out);
  CHECK(t.recorder->hooks() == Hooks{"expire"});
}

TEST_CASE("the oldest message dropped by Overflow::drop_oldest is seen by on_dead_letter") {
  Traced t(false);
  t.broker.declare_queue("jobs", t.queue({.capacity = 1, .overflow = Overflow::drop_oldest}));
  auto oldest = t.producer.send("jobs", "old");
  REQUIRE(oldest);
  REQUIRE(t.producer.send("jobs", "new"));
  const Event dead = t.recorder->only("dead_letter");
  CHECK(dead.id == *oldest);
  CHECK(dead.detail == "overflow->");
}

TEST_CASE(
    "a push consumer's handler that throws is seen as on_nack and one that returns as "
    "on_ack") {
  Traced t(false);
  t.broker.declare_queue("jobs", t.queue());
  REQUIRE(t.producer.send("jobs", "throw"));
  REQUIRE(t.producer.send("jobs", "fine"));
  auto consumer = t.broker.consumer("jobs");
  std::atomic<int> calls{0};
  consumer.run([&](Delivery& d) {
    calls.fetch_add(1);
    if (d.payload().as_string() == "throw" && d.attempt() == 1) {
      throw std::runtime_error("boom");
    }
  });
  REQUIRE(eventually([&] { return t.recorder->hooks().size() >= 6; }));
  consumer.stop();
  const auto hooks = t.recorder->hooks();
  CHECK(std::count(hooks.begin(), hooks.end(), "receive") == 3);
  CHECK(std::count(hooks.begin(), hooks.end(), "nack") == 1);
  CHECK(std::count(hooks.begin(), hooks.end(), "ack") == 2);
}

TEST_CASE(
    "a group poll is seen by on_poll once per record with the topic and group and the "
    "record's partition and offset") {
  const bool durable = GENERATE(false, true);
  CAPTURE(durable);
  Traced t(durable);
  t.broker.declare_topic(
      "clicks", {.partitions = 1, .durability = durable ? Durability::none : Durability::memory});
  auto member = t.broker.group_consumer("clicks", "analytics", {.start = Start::earliest});
  auto first = t.producer.send("clicks", "c0");
  REQUIRE(first);
  REQUIRE(t.producer.send("clicks", "c1"));
  auto batch = member.poll(10, 0s);
  REQUIRE(batch);
  REQUIRE(batch->size() == 2);
  REQUIRE(t.recorder->hooks() == Hooks{"poll", "poll"});
  const auto events = t.recorder->events();
  CHECK(events[0].destination == "clicks");
  CHECK(events[0].id == *first);
  CHECK(events[0].detail == "analytics/0@0");
  CHECK(events[1].detail == "analytics/0@1");
  // An empty poll calls nothing.
  auto none = member.poll(10, 0s);
  REQUIRE(none);
  CHECK(t.recorder->hooks().size() == 2);
}

TEST_CASE(
    "a pub/sub delivery is seen by on_deliver once per subscription before its handler and "
    "a publish by on_send") {
  Traced t(false);
  std::atomic<int> handled{0};
  auto exact = t.broker.subscribe("news", [&](const Message&) { handled.fetch_add(1); });
  auto pattern = t.broker.psubscribe("n*", [&](const Message&) { handled.fetch_add(1); });
  const int sends_before = t.recorder->sends();
  CHECK(t.broker.publish("news", "hello") == 2);
  REQUIRE(eventually([&] { return handled.load() == 2; }));
  CHECK(t.recorder->sends() == sends_before + 1);
  CHECK(t.recorder->hooks() == Hooks{"deliver", "deliver"});
  for (const auto& e : t.recorder->events()) {
    CHECK(e.destination == "news");
    CHECK(e.detail == "hello");
  }
}

TEST_CASE("with a TraceContextInterceptor the traceparent set at send is the one seen at ack") {
  auto recorder = std::make_shared<Recorder>();
  Broker broker({.interceptors = {std::make_shared<TraceContextInterceptor>(), recorder}});
  broker.declare_queue("jobs");
  auto producer = broker.producer();
  REQUIRE(producer.send("jobs", "a"));
  auto consumer = broker.consumer("jobs");
  auto delivery = consumer.receive();
  REQUIRE(delivery);
  const auto sent = traceparent_of(delivery->headers());
  REQUIRE(sent);
  REQUIRE(delivery->ack());
  const Event ack = recorder->only("ack");
  CHECK(ack.traceparent == sent->to_string());
  CHECK(recorder->only("receive").traceparent == sent->to_string());
}

namespace {

/// Throws from every hook it has.
class Thrower : public Interceptor {
 public:
  void on_send(std::string_view, Headers&) override { throw std::runtime_error("send hook"); }
  void on_receive(std::string_view, const Delivery&) override { throw 42; }
  void on_ack(std::string_view, const Message&, std::uint32_t) override {
    throw std::runtime_error("ack hook");
  }
};

}  // namespace

TEST_CASE(
    "an interceptor that throws is logged - and the next interceptor and the message go "
    "on") {
  std::mutex mutex;
  std::vector<std::string> lines;
  auto recorder = std::make_shared<Recorder>();
  Broker broker({.interceptors = {std::make_shared<Thrower>(), recorder},
                 .log = [&](LogLevel level, std::string_view component, std::string_view line) {
                   const std::lock_guard lock(mutex);
                   CHECK(level == LogLevel::error);
                   CHECK(component == "interceptor");
                   lines.emplace_back(line);
                 }});
  broker.declare_queue("jobs");
  auto producer = broker.producer();
  REQUIRE(producer.send("jobs", "a"));
  auto consumer = broker.consumer("jobs");
  auto delivery = consumer.receive();
  REQUIRE(delivery);
  REQUIRE(delivery->ack());
  CHECK(recorder->sends() == 1);
  CHECK(recorder->hooks() == Hooks{"receive", "ack"});
  const std::lock_guard lock(mutex);
  // The first failure is logged at once; the next ones within a second are aggregated.
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.size() <= 3);
  CHECK_THAT(lines[0], Catch::Contains("on_send") && Catch::Contains("send hook"));
}
