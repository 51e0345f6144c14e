#include <switchyard/detail/message_body.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "support/test_support.hpp"

using switchyard::Headers;
using switchyard::detail::BlockPool;
using switchyard::detail::MessageBody;
using switchyard::detail::MessageExtras;
using switchyard::test::ManualBroker;
using switchyard::test::Tracked;
using namespace std::chrono_literals;

namespace {

std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string_view text_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Every block the pool holds for the class of `size`, after handing the calling thread's
/// cache and the depot back to the allocator: what is still in use.
std::int64_t in_use(std::size_t size) {
  BlockPool::instance().trim();
  return BlockPool::instance().blocks_held(BlockPool::class_of(size));
}

}  // namespace

TEST_CASE("a plain body carries its key, group and payload in one block of 40 + sizes bytes") {
  const std::string payload(64, 'p');
  const std::int64_t before = in_use(40 + 64 + 3 + 2);
  MessageBody* body = MessageBody::create("key", "gr", bytes_of(payload));
  CHECK(body->extras() == nullptr);
  CHECK(body->allocation_size() == 40 + 3 + 2 + 64);
  CHECK(body->key() == "key");
  CHECK(body->group() == "gr");
  CHECK(text_of(body->payload()) == payload);
  CHECK(body->headers().empty());
  CHECK(body->object() == nullptr);
  CHECK(body->deliver_after_ns() == 0);
  CHECK(body->expires_at_ns() == 0);
  CHECK(&body->content() == body);
  CHECK(in_use(40 + 64 + 3 + 2) == before + 1);
  body->release();
  CHECK(in_use(40 + 64 + 3 + 2) == before);
}

TEST_CASE("a 64-byte message without key or extras fits the 104-byte class") {
  const std::string payload(64, 'x');
  MessageBody* body = MessageBody::create({}, {}, bytes_of(payload));
  CHECK(body->allocation_size() == 104);
  CHECK(BlockPool::class_size(BlockPool::class_of(body->allocation_size())) == 104);
  body->release();
}

TEST_CASE("a body with extras keeps them in the same block and frees headers and object") {
  Tracked::live = 0;
  const std::size_t size = sizeof(MessageExtras) + 40 + 1 + 5;
  const std::int64_t before = in_use(size);
  {
    MessageBody* body = MessageBody::create("k", {}, bytes_of("hello"), true);
    REQUIRE(body->extras() != nullptr);
    CHECK(reinterpret_cast<const std::byte*>(body->extras()) + sizeof(MessageExtras) ==
          reinterpret_cast<const std::byte*>(body));
    CHECK(body->allocation_size() == size);
    MessageExtras& extras = body->mutable_extras();
    extras.headers =
        Headers{{"type", "Invoice"}, {"a-rather-long-header-name", std::string(200, 'v')}};
    extras.object = new Tracked(7);
    extras.object_ops = &switchyard::detail::object_ops_for<Tracked>();
    extras.deliver_after_ns = 11;
    extras.expires_at_ns = 22;
    CHECK(Tracked::live == 1);
    CHECK(body->headers().get("type") == "Invoice");
    CHECK(static_cast<Tracked*>(body->object())->value == 7);
    CHECK(body->deliver_after_ns() == 11);
    CHECK(body->expires_at_ns() == 22);
    CHECK(text_of(body->payload()) == "hello");
    CHECK(in_use(size) == before + 1);
    body->release();
  }
  CHECK(Tracked::live == 0);
  CHECK(in_use(size) == before);
}

TEST_CASE("a derived body shows its origin's payload and object and keeps the origin alive") {
  Tracked::live = 0;
  MessageBody* original = MessageBody::create("key", "grp", bytes_of("payload"), true);
  original->id = 42;
  original->priority = 3;
  original->mutable_extras().object = new Tracked(5);
  original->mutable_extras().object_ops = &switchyard::detail::object_ops_for<Tracked>();
  original->mutable_extras().expires_at_ns = 99;

  MessageBody* derived = MessageBody::derive(*original, Headers{{"x-death-reason", "rejected"}});
  MessageBody* second = MessageBody::derive(*derived, Headers{{"hop", "2"}});
  CHECK(original->refs.load() == 3);  // itself, and the two derived bodies point at it
  original->release();
  CHECK(Tracked::live == 1);

  CHECK(derived->id == 42);
  CHECK(derived->priority == 3);
  CHECK(derived->key() == "key");
  CHECK(derived->group() == "grp");
  CHECK(derived->payload().data() == original->payload().data());  // shared, not copied
  CHECK(text_of(second->payload()) == "payload");
  CHECK(static_cast<Tracked*>(second->object())->value == 5);
  CHECK(derived->headers().get("x-death-reason") == "rejected");
  CHECK(second->headers().get("hop") == "2");
  CHECK(derived->expires_at_ns() == 0);  // the derived body's own extras, not the origin's

  derived->release();
  CHECK(Tracked::live == 1);
  second->release();
  CHECK(Tracked::live == 0);
}

TEST_CASE("messages with headers, ttl, delay and objects free everything through a broker") {
  Tracked::live = 0;
  {
    ManualBroker t;
    t.broker.declare_queue("dlq");
    auto q = t.broker.declare_queue("jobs", {.dead_letter = "dlq"});
    REQUIRE(t.producer.send("jobs", "plain"));
    REQUIRE(t.producer.send("jobs", "headers", {.headers = Headers{{"type", "Invoice"}}}));
    REQUIRE(t.producer.send("jobs", "ttl", {.ttl = 1h}));
    REQUIRE(t.producer.send("jobs", "delay", {.delay = 1ms}));
    REQUIRE(t.producer.send("jobs", switchyard::object(Tracked(9)), {.key = "obj"}));
    CHECK(Tracked::live == 1);
    t.clock->advance(2ms);

    auto c = t.broker.consumer("jobs");
    for (int i = 0; i < 5; ++i) {
      auto d = c.receive(0ms);
      REQUIRE(d);
      if (d->message().key() == "obj") {
        CHECK(d->message().object<Tracked>().value == 9);
        REQUIRE(d->nack(false));  // dead-lettered: a derived body sharing the object
      } else {
        REQUIRE(d->ack());
      }
    }
    auto dlq = t.broker.consumer("dlq");
    auto dead = dlq.receive(0ms);
    REQUIRE(dead);
    CHECK(dead->message().object<Tracked>().value == 9);
    CHECK(Tracked::live == 1);
    REQUIRE(dead->ack());
  }
  CHECK(Tracked::live == 0);
}
