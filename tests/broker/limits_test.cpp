// Durations and options at their limits (issue 10 §1.3): Duration::max() means never (every
// deadline saturates), 0 and negative per-call durations mean "at once / the default", and
// options that cannot mean anything are refused at declare with Errc::invalid_argument.
// Run under the asan preset too (it includes UBSan, which aborts on signed overflow).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

constexpr Duration kForever = Duration::max();
constexpr Duration kMostNegative = Duration::min();
/// Far beyond any default, well inside the clock's range.
constexpr auto kCentury = std::chrono::hours(24 * 365 * 100);

Errc declare_code(QueueOptions options) {
  Broker broker;
  return code_of([&] { broker.declare_queue("q", options); });
}

}  // namespace

TEST_CASE("a send whose ttl is Duration::max() never expires") {
  ManualBroker t;
  auto q = t.broker.declare_queue("q");
  REQUIRE(t.producer.send("q", "kept", {.ttl = kForever}));
  t.clock->advance(kCentury);
  auto c = t.broker.consumer("q");
  auto d = c.receive();
  REQUIRE(d);
  CHECK(text(*d) == "kept");
  CHECK(q.stats().expired == 0);
}

TEST_CASE("a send whose delay is Duration::max() is never delivered") {
  ManualBroker t;
  auto q = t.broker.declare_queue("q");
  REQUIRE(t.producer.send("q", "later", {.delay = kForever}));
  t.clock->advance(kCentury);
  auto c = t.broker.consumer("q");
  CHECK(c.receive().code() == Errc::timed_out);
  CHECK(q.depth() == 1);
}

TEST_CASE("a per-send delay and ttl of 0 mean the queue's defaults and negative fails the send") {
  ManualBroker t;
  auto q = t.broker.declare_queue("q");
  REQUIRE(t.producer.send("q", "now", {.delay = Duration{0}, .ttl = Duration{0}}));
  for (Duration bad : {Duration{-1}, kMostNegative}) {
    CHECK(t.producer.send("q", "x", {.delay = bad}).code() == Errc::invalid_argument);
    CHECK(t.producer.send("q", "x", {.ttl = bad}).code() == Errc::invalid_argument);
  }
  CHECK(q.depth() == 1);
  auto c = t.broker.consumer("q");
  t.clock->advance(kCentury);  // the queue's ttl is 0: nothing expires
  auto d = c.receive();
  REQUIRE(d);
  CHECK(text(*d) == "now");
}

TEST_CASE("a durable queue keeps never-expiring and never-due messages so across a restart") {
  switchyard::test::ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  const QueueOptions options{.durability = Durability::always};
  {
    Broker broker(BrokerOptions{.clock = clock, .data_dir = dir.path()});
    broker.declare_queue("q", options);
    auto producer = broker.producer();
    REQUIRE(producer.send("q", "later", {.delay = kForever}));
    REQUIRE(producer.send("q", "kept", {.ttl = kForever}));
  }
  clock->advance(kCentury);
  Broker broker(BrokerOptions{.clock = clock, .data_dir = dir.path()});
  auto q = broker.declare_queue("q", options);
  CHECK(q.depth() == 2);
  auto c = broker.consumer("q");
  auto d = c.receive();
  REQUIRE(d);
  CHECK(text(*d) == "kept");
  REQUIRE(d->ack());
  CHECK(c.receive().code() == Errc::timed_out);  // "later" is still not due
  CHECK(q.stats().expired == 0);
}

TEST_CASE("a visibility_timeout of Duration::max() keeps a delivery from a second consumer") {
  ManualBroker t;
  auto q = t.broker.declare_queue("q", {.visibility_timeout = kForever});
  REQUIRE(t.producer.send("q", "held"));
  auto first = t.broker.consumer("q");
  auto second = t.broker.consumer("q");
  auto d = first.receive();
  REQUIRE(d);
  t.clock->advance(kCentury);
  CHECK(second.receive().code() == Errc::timed_out);
  REQUIRE(d->extend());
  t.clock->advance(kCentury);
  CHECK(second.receive().code() == Errc::timed_out);
  CHECK(q.stats().delivered == 1);
  CHECK(d->ack());
}

TEST_CASE("queue-wide delay, ttl, backoff and dedup window of Duration::max() mean never") {
  ManualBroker t;
  auto delayed = t.broker.declare_queue("delayed", {.delay = kForever});
  auto q = t.broker.declare_queue(
      "q", {.retry_backoff = {.initial = kForever, .multiplier = 2.0, .max = kForever},
            .ttl = kForever,
            .dedup_window = kForever});
  REQUIRE(t.producer.send("delayed", "x"));
  REQUIRE(t.producer.send("q", "x", {.dedup_id = "once"}));
  t.clock->advance(kCentury);
  auto again = t.producer.send("q", "x", {.dedup_id = "once"});
  REQUIRE(again);
  CHECK(q.stats().deduplicated == 1);
  auto delayed_consumer = t.broker.consumer("delayed");
  CHECK(delayed_consumer.receive().code() == Errc::timed_out);
  auto c = t.broker.consumer("q");
  auto d = c.receive();
  REQUIRE(d);  // not expired
  REQUIRE(d->nack());
  t.clock->advance(kCentury);
  CHECK(c.receive().code() == Errc::timed_out);  // the backoff never ends
  CHECK(q.depth() == 1);
  CHECK(delayed.depth() == 1);
}

TEST_CASE("a backoff reaches its cap without overflow at any attempt") {
  const Backoff huge{.initial = std::chrono::seconds(1), .multiplier = 1e300, .max = kForever};
  CHECK(huge.after(1) == std::chrono::seconds(1));
  CHECK(huge.after(2) == kForever);
  CHECK(huge.after(std::numeric_limits<std::uint32_t>::max()) == kForever);
  const Backoff flat{.initial = kForever, .multiplier = 1.0, .max = kForever};
  CHECK(flat.after(1000) == kForever);
  const Backoff capped{
      .initial = std::chrono::seconds(1), .multiplier = 2.0, .max = std::chrono::seconds(5)};
  CHECK(capped.after(3) == std::chrono::seconds(4));
  CHECK(capped.after(4) == std::chrono::seconds(5));
  CHECK(capped.after(1u << 31) == std::chrono::seconds(5));
}

TEST_CASE("a queue refuses durations and backoffs that cannot mean anything") {
  for (Duration bad : {Duration{-1}, kMostNegative}) {
    CHECK(declare_code({.send_timeout = bad}) == Errc::invalid_argument);
    CHECK(declare_code({.visibility_timeout = bad}) == Errc::invalid_argument);
    CHECK(declare_code({.delay = bad}) == Errc::invalid_argument);
    CHECK(declare_code({.ttl = bad}) == Errc::invalid_argument);
    CHECK(declare_code({.dedup_window = bad}) == Errc::invalid_argument);
    CHECK(declare_code({.retry_backoff = {.initial = bad}}) == Errc::invalid_argument);
    CHECK(declare_code({.retry_backoff = {.max = bad}}) == Errc::invalid_argument);
  }
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), 0.999, 0.0, -2.0}) {
    CHECK(declare_code({.retry_backoff = {.multiplier = bad}}) == Errc::invalid_argument);
  }
  CHECK(declare_code({.retry_backoff = {.initial = std::chrono::seconds(2),
                                        .max = std::chrono::seconds(1)}}) ==
        Errc::invalid_argument);
  CHECK(declare_code({.capacity = 0}) == Errc::invalid_argument);
  CHECK(declare_code({.prefetch = 0}) == Errc::invalid_argument);
  // The limits themselves are accepted.
  CHECK(declare_code({.send_timeout = kForever,
                      .visibility_timeout = kForever,
                      .retry_backoff = {.initial = kForever, .multiplier = 1.0, .max = kForever},
                      .delay = kForever,
                      .ttl = kForever,
                      .dedup_window = kForever}) == Errc::ok);
  CHECK(declare_code({.send_timeout = Duration{0},
                      .visibility_timeout = Duration{0},
                      .retry_backoff = {.initial = Duration{0}, .max = Duration{0}},
                      .dedup_window = Duration{0}}) == Errc::ok);
}

TEST_CASE("a consumer with no workers is refused and prefetch 0 takes the queue's") {
  Broker broker;
  broker.declare_queue("q", {.prefetch = 2});
  CHECK(code_of([&] { (void)broker.consumer("q", {.workers = 0}); }) == Errc::invalid_argument);
  auto producer = broker.producer();
  for (int i = 0; i < 3; ++i) REQUIRE(producer.send("q", "x"));
  auto c = broker.consumer("q", {.prefetch = 0});
  auto batch = c.receive(10, Duration{0});
  REQUIRE(batch);
  CHECK(batch->size() == 2);
}

TEST_CASE("receive and poll timeouts at their limits return at once when they can") {
  ManualBroker t;
  t.broker.declare_queue("q");
  t.broker.declare_topic("t");
  auto c = t.broker.consumer("q");
  auto g = t.broker.group_consumer("t", "g", {.start = Start::earliest});
  for (Duration none : {Duration{0}, Duration{-1}, kMostNegative}) {
    CHECK(c.receive(none).code() == Errc::timed_out);
    auto polled = g.poll(10, none);
    REQUIRE(polled);
    CHECK(polled->empty());
  }
  REQUIRE(t.producer.send("q", "x"));
  REQUIRE(t.producer.send("t", "x"));
  auto d = c.receive(kForever);
  REQUIRE(d);
  auto polled = g.poll(10, kForever);
  REQUIRE(polled);
  CHECK(polled->size() == 1);
}

TEST_CASE(
    "a topic keeps records forever under retention age Duration::max() and refuses negative") {
  ManualBroker t;
  auto topic = t.broker.declare_topic("t", {.retention = {.age = kForever}});
  REQUIRE(t.producer.send("t", "old"));
  t.clock->advance(kCentury);
  REQUIRE(t.producer.send("t", "new"));
  CHECK(topic.stats().retained == 2);
  for (Duration bad : {Duration{-1}, kMostNegative}) {
    CHECK(code_of([&] { t.broker.declare_topic("u", {.retention = {.age = bad}}); }) ==
          Errc::invalid_argument);
  }
}

TEST_CASE("a subscriber refuses a negative block_timeout and accepts Duration::max()") {
  Broker broker;
  auto handler = [](const Message&) {};
  for (Duration bad : {Duration{-1}, kMostNegative}) {
    CHECK(code_of([&] {
            (void)broker.subscribe("c", handler,
                                   {.when_full = SlowSubscriber::block, .block_timeout = bad});
          }) == Errc::invalid_argument);
  }
  auto s = broker.subscribe("c", handler,
                            {.when_full = SlowSubscriber::block, .block_timeout = kForever});
  CHECK(broker.publish("c", "x") == 1);  // one subscriber reached
}

TEST_CASE("a manual clock advanced past its range stops at TimePoint::max()") {
  ManualClock clock;
  clock.advance(kForever);
  clock.advance(kForever);
  CHECK(clock.now() == TimePoint::max());
  clock.advance(kMostNegative);  // ignored: monotonic time never goes back
  CHECK(clock.now() == TimePoint::max());
}

TEST_CASE(
    "a segment size outside 104 bytes to 2^40 is refused at broker construction and at declare") {
  ScratchDir dir;
  for (const std::uint64_t bytes : {std::uint64_t{1}, std::uint64_t{87}, std::uint64_t{103},
                                    (std::uint64_t{1} << 40) + 1, ~std::uint64_t{0}}) {
    INFO("segment_bytes " << bytes);
    CHECK(code_of([&] {
            Broker broker({.data_dir = dir.path(), .storage = {.segment_bytes = bytes}});
          }) == Errc::invalid_argument);
    Broker broker({.data_dir = dir.path()});
    const StorageOptions storage{.segment_bytes = bytes};
    CHECK(code_of([&] {
            broker.declare_queue("q", {.durability = Durability::none, .storage = storage});
          }) == Errc::invalid_argument);
    CHECK(code_of([&] {
            broker.declare_topic("t", {.durability = Durability::none, .storage = storage});
          }) == Errc::invalid_argument);
    CHECK_FALSE(broker.contains("q"));
  }
  ScratchDir fresh;
  Broker smallest({.data_dir = fresh.path(), .storage = {.segment_bytes = 104}});
  CHECK(smallest.declare_queue("q", {.durability = Durability::none}));
  CHECK(smallest.declare_topic("t", {.durability = Durability::none}));
  Broker largest({.data_dir = dir.path(), .storage = {.segment_bytes = std::uint64_t{1} << 40}});
}

TEST_CASE("a message whose record does not fit in one segment is refused as too large") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path(), .storage = {.segment_bytes = 4096}});
  broker.declare_queue("q", {.durability = Durability::none});
  broker.declare_topic("t", {.durability = Durability::none});
  auto producer = broker.producer();
  const std::string big(4096, 'x');
  for (const char* name : {"q", "t"}) {
    CHECK(producer.send(name, big).code() == Errc::payload_too_large);
    CHECK(producer.send(name, "small"));
  }
}
