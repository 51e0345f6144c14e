// A queue's limit in bytes and its purge, with RabbitMQ's semantics: x-max-length-bytes bounds
// "the total size of all message bodies" of ready messages, and when it is reached the queue's
// overflow behaviour applies (drop-head: the oldest go; reject-publish: the publish is
// refused); queue.purge "removes all messages from a queue which are not awaiting
// acknowledgment" and replies with the message count.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

TEST_CASE("max_length_bytes with reject refuses a send that would pass the byte limit") {
  ManualBroker t;
  auto q = t.broker.declare_queue("q", {.overflow = Overflow::reject, .max_length_bytes = 10});
  REQUIRE(t.producer.send("q", "12345"));
  REQUIRE(t.producer.send("q", "6789"));
  CHECK(q.stats().bytes == 9);
  CHECK(t.producer.send("q", "ab").code() == Errc::full);  // 11 > 10: reject-publish
  REQUIRE(t.producer.send("q", "a"));                      // exactly 10 fits
  CHECK(q.stats().rejected_full == 1);
  // Taking one frees its bytes (in-flight messages do not count, as in RabbitMQ).
  auto c = t.broker.consumer("q");
  auto d = c.receive(0s);
  REQUIRE(d);
  CHECK(q.stats().bytes == 5);
  REQUIRE(t.producer.send("q", "abcde"));
  CHECK(q.depth() == 3);
}

TEST_CASE("max_length_bytes with drop_oldest drops the head until the new message fits") {
  ManualBroker t;
  t.broker.declare_queue("dead");
  auto q = t.broker.declare_queue(
      "q", {.overflow = Overflow::drop_oldest, .dead_letter = "dead", .max_length_bytes = 10});
  REQUIRE(t.producer.send("q", "aaaa"));
  REQUIRE(t.producer.send("q", "bbbb"));
  REQUIRE(t.producer.send("q", "cccccc"));  // 14 > 10: "aaaa" goes (drop-head)
  CHECK(q.depth() == 2);
  CHECK(q.stats().bytes == 10);
  auto dead = t.broker.consumer("dead");
  auto d = dead.receive(0s);
  REQUIRE(d);
  CHECK(text(*d) == "aaaa");
  CHECK(d->message().headers().get(headers::death_reason) == "overflow");
}

TEST_CASE("a payload larger than max_length_bytes by itself is refused as too large") {
  ManualBroker t;
  t.broker.declare_queue("q", {.overflow = Overflow::drop_oldest, .max_length_bytes = 4});
  REQUIRE(t.producer.send("q", "ok"));
  CHECK(t.producer.send("q", "too long").code() == Errc::payload_too_large);
  CHECK(t.broker.queue("q").depth() == 1);  // nothing was dropped for it
}

TEST_CASE("max_length_bytes with block waits for a consumer to take bytes out") {
  ManualBroker t;
  auto q = t.broker.declare_queue(
      "q", {.overflow = Overflow::block, .send_timeout = 0s, .max_length_bytes = 4});
  REQUIRE(t.producer.send("q", "abcd"));
  CHECK(t.producer.send("q", "e").code() == Errc::full);  // no wait allowed: refused
  auto c = t.broker.consumer("q");
  REQUIRE(c.receive(0s));
  REQUIRE(t.producer.send("q", "e"));
}

TEST_CASE("purge removes the ready messages - not those in flight - and returns the count") {
  ManualBroker t;
  auto q = t.broker.declare_queue("q", {.visibility_timeout = 0s, .max_priority = 3});
  for (int i = 0; i < 5; ++i) REQUIRE(t.producer.send("q", std::to_string(i)));
  REQUIRE(t.producer.send("q", "urgent", {.priority = 2}));
  REQUIRE(t.producer.send("q", "later", {.delay = 1h}));
  REQUIRE(t.producer.send("q", "grouped", {.group = "g"}));
  auto c = t.broker.consumer("q");
  auto held = c.receive(0s);
  REQUIRE(held);
  CHECK(text(*held) == "urgent");
  CHECK(q.purge() == 7);
  CHECK(q.depth() == 0);
  CHECK(q.stats().purged == 7);
  CHECK(c.receive(0s).code() == Errc::timed_out);
  t.clock->advance(2h);
  CHECK(c.receive(0s).code() == Errc::timed_out);  // the delayed one was purged too
  // The one in flight is untouched: its consumer still settles it.
  REQUIRE(held->nack());
  auto again = c.receive(0s);
  REQUIRE(again);
  CHECK(text(*again) == "urgent");
  CHECK(q.purge() == 0);
}

TEST_CASE("a purge of a durable queue is journaled - purged messages do not come back") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("switchyard-purge-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const QueueOptions options{.durability = Durability::none};
  {
    Broker broker({.data_dir = dir});
    auto q = broker.declare_queue("q", options);
    auto producer = broker.producer();
    for (int i = 0; i < 4; ++i) REQUIRE(producer.send("q", std::to_string(i)));
    CHECK(q.purge() == 4);
    REQUIRE(producer.send("q", "kept"));
  }
  {
    Broker broker({.data_dir = dir});
    auto q = broker.queue("q");
    CHECK(q.depth() == 1);
    auto c = broker.consumer("q");
    auto d = c.receive(1s);
    REQUIRE(d);
    CHECK(text(*d) == "kept");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a durable queue keeps its byte limit and counts its recovered bytes") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("switchyard-bytes-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const QueueOptions options{
      .overflow = Overflow::reject, .max_length_bytes = 8, .durability = Durability::none};
  {
    Broker broker({.data_dir = dir});
    broker.declare_queue("q", options);
    REQUIRE(broker.producer().send("q", "123456"));
  }
  {
    Broker broker({.data_dir = dir});
    auto q = broker.queue("q");
    CHECK(q.options().max_length_bytes == 8);
    CHECK(q.stats().bytes == 6);
    CHECK(broker.producer().send("q", "789").code() == Errc::full);
  }
  std::filesystem::remove_all(dir);
}
