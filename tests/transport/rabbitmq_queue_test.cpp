// Queues and exchanges that live on a RabbitMQ server (switchyard::rabbitmq, against a private
// rabbitmq-server the fixture starts on a loopback port): send, consume, settle, the server's
// routing, dead-lettering, limits and priorities, and the typed errors at declare. Each test
// names its queues and exchanges after itself, so the tests of one server do not meet.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "support/rabbitmq_server.hpp"
#include "switchyard/rabbitmq.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::test::RabbitmqServer;

namespace {

/// A connection to the fixture's server, or null when the server could not start here: the
/// test then says so loudly (a warning with the server's log) and passes without running.
std::shared_ptr<Transport> rabbit() {
  RabbitmqServer& server = RabbitmqServer::shared();
  if (!server.available()) {
    WARN("SKIPPED: rabbitmq-server could not start here, so this RabbitMQ test did not run: "
         << server.error());
    return nullptr;
  }
  return rabbitmq::connect({.host = server.host(), .port = server.port()});
}

/// A unique name for this run's `what` (the server outlives none of the test's objects, but
/// names are the server's: two test cases must not share one).
std::string unique(std::string_view what) {
  static int n = 0;
  return fmt::format("{}-{}-{}", what, ::getpid(), ++n);
}

/// A send's completion, as a future.
struct Completion {
  std::shared_ptr<std::promise<Result<SendReceipt>>> promise =
      std::make_shared<std::promise<Result<SendReceipt>>>();
  std::future<Result<SendReceipt>> future = promise->get_future();
  SendOptions options() const {
    SendOptions o;
    o.on_complete = [p = promise](const Result<SendReceipt>& r) { p->set_value(r); };
    return o;
  }
  Result<SendReceipt> get() {
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    return future.get();
  }
};

Delivery receive(Consumer& consumer) {
  auto delivery = consumer.receive(20s);
  INFO(delivery.failure().message);
  REQUIRE(delivery);
  return std::move(*delivery);
}

}  // namespace

TEST_CASE("a message sent to a RabbitMQ queue is confirmed, delivered with its headers and "
          "priority, and gone once acked") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string name = unique("jobs");
  auto queue = broker.declare_queue(name, {.transport = transport});
  auto producer = broker.producer();
  Completion done;
  SendOptions options = done.options();
  options.headers = Headers{{"trace", "abc"}};
  options.priority = 7;
  options.key = "order-1";
  REQUIRE(producer.send(name, "hello", options));
  auto confirmed = done.get();
  INFO(confirmed.failure().message);
  REQUIRE(confirmed);
  CHECK(confirmed->persisted == Persisted::memory);

  auto consumer = broker.consumer(name);
  Delivery d = receive(consumer);
  CHECK(d.payload().as_string() == "hello");
  CHECK(d.headers().get("trace") == "abc");
  CHECK(d.message().priority() == 7);
  CHECK(d.message().key() == "order-1");
  CHECK(d.attempt() == 1);
  REQUIRE(d.ack());
  consumer.close();
  CHECK(queue.depth() == 0);
  const BrokerStats stats = broker.stats();
  REQUIRE(stats.remote_queues.size() == 1);
  CHECK(stats.remote_queues[0].confirmed == 1);
  CHECK(stats.remote_queues[0].acked == 1);
}

TEST_CASE("a RabbitMQ delivery nacked with requeue comes again as a redelivery, and one a "
          "consumer closes on comes to the next consumer") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string name = unique("retry");
  broker.declare_queue(name, {.transport = transport});
  auto producer = broker.producer();
  Completion done;
  REQUIRE(producer.send(name, "again", done.options()));
  REQUIRE(done.get());
  {
    auto consumer = broker.consumer(name);
    Delivery first = receive(consumer);
    REQUIRE(first.nack(true));
    Delivery second = receive(consumer);
    CHECK(second.payload().as_string() == "again");
    CHECK(second.redelivered());
    // Closed with `second` unsettled: the server puts it back.
  }
  auto next = broker.consumer(name);
  Delivery third = receive(next);
  CHECK(third.payload().as_string() == "again");
  CHECK(third.redelivered());
  REQUIRE(third.ack());
}

TEST_CASE("a RabbitMQ delivery rejected goes to the queue's dead-letter exchange with its "
          "routing key") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string dlx = unique("dlx");
  const std::string dead = unique("dead");
  const std::string name = unique("work");
  broker.declare_exchange(dlx, ExchangeType::direct, {.transport = transport});
  broker.declare_queue(dead, {.transport = transport});
  broker.bind(dlx, dead, "failed");
  broker.declare_queue(name, {.dead_letter = dlx, .dead_letter_routing_key = "failed",
                              .transport = transport});
  auto producer = broker.producer();
  Completion done;
  REQUIRE(producer.send(name, "poison", done.options()));
  REQUIRE(done.get());
  auto consumer = broker.consumer(name);
  REQUIRE(receive(consumer).reject());
  auto dead_consumer = broker.consumer(dead);
  Delivery d = receive(dead_consumer);
  CHECK(d.payload().as_string() == "poison");
  CHECK(d.headers().get("x-first-death-reason") == "rejected");
  REQUIRE(d.ack());
}

TEST_CASE("a RabbitMQ topic exchange routes by pattern, and a message no binding takes is "
          "unroutable when the exchange says error") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string events = unique("events");
  const std::string orders = unique("orders");
  broker.declare_exchange(events, ExchangeType::topic,
                          {.unroutable = Unroutable::error, .transport = transport});
  broker.declare_queue(orders, {.transport = transport});
  broker.bind(events, orders, "orders.*");
  auto producer = broker.producer();
  Completion routed, unroutable;
  SendOptions to_orders = routed.options();
  to_orders.key = "orders.created";
  SendOptions to_users = unroutable.options();
  to_users.key = "users.created";
  REQUIRE(producer.send(events, "o1", to_orders));
  REQUIRE(producer.send(events, "u1", to_users));
  REQUIRE(routed.get());
  auto refused = unroutable.get();
  REQUIRE(!refused);
  CHECK(refused.failure().code == Errc::unroutable);
  auto consumer = broker.consumer(orders);
  Delivery d = receive(consumer);
  CHECK(d.payload().as_string() == "o1");
  CHECK(d.message().key() == "orders.created");
  REQUIRE(d.ack());
  REQUIRE(broker.unbind(events, orders, "orders.*"));
  CHECK_FALSE(broker.unbind(events, orders, "orders.*"));
}

TEST_CASE("with many sends in flight, each unroutable one and only it completes as unroutable, "
          "also when sends repeat a message id and on a headers exchange") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string topics = unique("returns-topic");
  const std::string by_headers = unique("returns-headers");
  const std::string kept = unique("returns-kept");
  broker.declare_exchange(topics, ExchangeType::topic,
                          {.unroutable = Unroutable::error, .transport = transport});
  broker.declare_exchange(by_headers, ExchangeType::headers,
                          {.unroutable = Unroutable::error, .transport = transport});
  broker.declare_queue(kept, {.capacity = 10'000, .transport = transport});
  broker.bind(topics, kept, "kept.*");
  broker.bind(by_headers, kept, {}, {.arguments = Headers{{"x-match", "all"}, {"to", "kept"}}});
  auto producer = broker.producer();
  // Every third send goes nowhere; every other send repeats one message id; the headers
  // exchange's sends share their key and differ only in the headers that route them.
  constexpr int kSends = 300;
  std::vector<Completion> done(kSends);
  std::vector<bool> routable(kSends);
  for (int i = 0; i < kSends; ++i) {
    routable[i] = i % 3 != 0;
    SendOptions o = done[i].options();
    if (i % 2 == 0) o.message_id = "the-same-id";
    if (i % 5 == 4) {
      o.headers = Headers{{"to", routable[i] ? "kept" : "nobody"}};
      REQUIRE(producer.send(by_headers, fmt::format("h{}", i), o));
    } else {
      o.key = routable[i] ? "kept.yes" : "lost.no";
      REQUIRE(producer.send(topics, fmt::format("t{}", i), o));
    }
  }
  int kept_count = 0;
  for (int i = 0; i < kSends; ++i) {
    INFO("send " << i << (routable[i] ? " (routable)" : " (unroutable)"));
    auto r = done[i].get();
    if (routable[i]) {
      CHECK(r);
      ++kept_count;
    } else {
      REQUIRE(!r);
      CHECK(r.failure().code == Errc::unroutable);
    }
  }
  auto consumer = broker.consumer(kept);
  for (int i = 0; i < kept_count; ++i) REQUIRE(receive(consumer).ack());
}

TEST_CASE("a RabbitMQ queue at its capacity refuses the next send with full (reject-publish), "
          "and purge empties it") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string name = unique("bounded");
  auto queue = broker.declare_queue(
      name, {.capacity = 2, .overflow = Overflow::reject, .transport = transport});
  auto producer = broker.producer();
  Completion a, b, c;
  REQUIRE(producer.send(name, "1", a.options()));
  REQUIRE(producer.send(name, "2", b.options()));
  REQUIRE(producer.send(name, "3", c.options()));
  REQUIRE(a.get());
  REQUIRE(b.get());
  auto third = c.get();
  REQUIRE(!third);
  CHECK(third.failure().code == Errc::full);
  CHECK(queue.depth() == 2);
  CHECK(queue.purge() == 2);
  CHECK(queue.depth() == 0);
}

TEST_CASE("a RabbitMQ queue delivers its higher priorities first") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string name = unique("priorities");
  broker.declare_queue(name, {.max_priority = 9, .transport = transport});
  auto producer = broker.producer();
  Completion low, high;
  SendOptions lo = low.options();
  lo.priority = 1;
  SendOptions hi = high.options();
  hi.priority = 8;
  REQUIRE(producer.send(name, "low", lo));
  REQUIRE(producer.send(name, "high", hi));
  REQUIRE(low.get());
  REQUIRE(high.get());
  auto consumer = broker.consumer(name, {.prefetch = 1});
  Delivery first = receive(consumer);
  CHECK(first.payload().as_string() == "high");
  REQUIRE(first.ack());
  Delivery second = receive(consumer);
  CHECK(second.payload().as_string() == "low");
  REQUIRE(second.ack());
}

TEST_CASE("what RabbitMQ cannot carry is a typed error at declare") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  auto code_of = [](auto&& declare) {
    try {
      declare();
    } catch (const Error& e) {
      INFO(e.what());
      return e.code();
    }
    return Errc::ok;
  };
  CHECK(code_of([&] {
          broker.declare_queue(unique("delayed"), {.delay = 1s, .transport = transport});
        }) == Errc::invalid_argument);
  CHECK(code_of([&] {
          broker.declare_queue(unique("limited"), {.max_deliveries = 3, .transport = transport});
        }) == Errc::invalid_argument);  // x-delivery-limit needs a (durable) quorum queue
  CHECK(code_of([&] {
          broker.declare_topic(unique("topic"), {.transport = transport});
        }) == Errc::invalid_argument);
  // The server's queue exists with other arguments: its 406 is option_mismatch.
  const std::string name = unique("shared");
  broker.declare_queue(name, {.capacity = 10, .transport = transport});
  Broker other;
  CHECK(code_of([&] {
          other.declare_queue(name, {.capacity = 20, .transport = transport});
        }) == Errc::option_mismatch);
  // ... and the connection is usable after it.
  CHECK(other.declare_queue(unique("after"), {.transport = transport}).depth() == 0);
  // Within one broker a re-declare must agree, as for a local queue.
  CHECK(code_of([&] {
          broker.declare_queue(name, {.capacity = 11, .transport = transport});
        }) == Errc::option_mismatch);
}

TEST_CASE("deleting a RabbitMQ queue deletes it on the server and tells its consumers closed") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string name = unique("doomed");
  broker.declare_queue(name, {.transport = transport});
  auto producer = broker.producer();
  Completion done;
  REQUIRE(producer.send(name, "left behind", done.options()));
  REQUIRE(done.get());
  auto consumer = broker.consumer(name, {.prefetch = 1});
  broker.delete_queue(name);
  auto after = consumer.receive(20s);
  // The message may have reached the inbox before the delete; the one after it is `closed`.
  if (after) after = consumer.receive(20s);
  REQUIRE(!after);
  CHECK(after.failure().code == Errc::closed);
  // Declared again (by another broker): a new, empty queue.
  Broker other;
  CHECK(other.declare_queue(name, {.transport = transport}).depth() == 0);
}

TEST_CASE("a broker's shutdown tells the consumers of its RabbitMQ queues closed, and the "
          "server keeps what they had not acked") {
  auto transport = rabbit();
  if (!transport) return;
  const std::string name = unique("kept");
  Broker broker;
  broker.declare_queue(name, {.transport = transport});
  auto producer = broker.producer();
  Completion done;
  REQUIRE(producer.send(name, "unacked", done.options()));
  REQUIRE(done.get());
  auto consumer = broker.consumer(name);
  Delivery held = receive(consumer);
  (void)broker.shutdown(Shutdown::stop);
  auto after = consumer.receive(20s);
  REQUIRE(!after);
  CHECK(after.failure().code == Errc::closed);
  consumer.close();
  // Its consumer's connection closed: the server has the message ready again.
  Broker other;
  auto again = other.declare_queue(name, {.transport = transport});
  auto next = other.consumer(name);
  Delivery d = receive(next);
  CHECK(d.payload().as_string() == "unacked");
  CHECK(d.redelivered());
  REQUIRE(d.ack());
}

TEST_CASE("RabbitMQ acks out of order, around a requeue, are all the server's: what a closed "
          "consumer held unacked comes again, nothing acked does") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string name = unique("acks");
  auto queue = broker.declare_queue(name, {.transport = transport});
  auto producer = broker.producer();
  for (int i = 0; i < 5; ++i) {
    Completion done;
    REQUIRE(producer.send(name, fmt::format("m{}", i), done.options()));
    REQUIRE(done.get());
  }
  {
    auto consumer = broker.consumer(name);
    std::vector<Delivery> d;
    for (int i = 0; i < 5; ++i) {
      d.push_back(receive(consumer));
      REQUIRE(d.back().payload().as_string() == fmt::format("m{}", i));
    }
    // The consumer thread coalesces acks into one basic.ack(multiple) for a settled prefix:
    // m2 is acked behind the held m0 and m1, m3 requeued in the middle, m4 behind the held m1.
    REQUIRE(d[2].ack());
    REQUIRE(d[0].ack());
    REQUIRE(d[3].nack(true));
    Delivery again = receive(consumer);
    CHECK(again.payload().as_string() == "m3");
    CHECK(again.redelivered());
    REQUIRE(d[4].ack());
    // Closed with m1 and the redelivered m3 unsettled: the server puts those two back.
  }
  auto next = broker.consumer(name);
  std::vector<std::string> back;
  for (int i = 0; i < 2; ++i) {
    Delivery d = receive(next);
    CHECK(d.redelivered());
    back.push_back(std::string(d.payload().as_string()));
    REQUIRE(d.ack());
  }
  std::sort(back.begin(), back.end());
  CHECK(back == std::vector<std::string>{"m1", "m3"});
  auto more = next.receive(500ms);
  // m0, m2 and m4 were acked: none comes again.
  if (more) FAIL_CHECK("came again: " << more->payload().as_string());
  next.close();
  CHECK(queue.depth() == 0);
}

TEST_CASE("a RabbitMQ delivery of a send with a key and no headers keeps the key and shows "
          "none of switchyard's own headers") {
  auto transport = rabbit();
  if (!transport) return;
  Broker broker;
  const std::string name = unique("plain");
  broker.declare_queue(name, {.transport = transport});
  auto producer = broker.producer();
  Completion keyed;
  SendOptions options = keyed.options();
  options.key = "order-2";
  REQUIRE(producer.send(name, "keyed", options));
  REQUIRE(keyed.get());
  Completion bare;
  REQUIRE(producer.send(name, "bare", bare.options()));
  REQUIRE(bare.get());
  auto consumer = broker.consumer(name);
  Delivery first = receive(consumer);
  CHECK(first.payload().as_string() == "keyed");
  CHECK(first.message().key() == "order-2");
  CHECK(first.headers().empty());
  REQUIRE(first.ack());
  Delivery second = receive(consumer);
  CHECK(second.payload().as_string() == "bare");
  CHECK(second.message().key().empty());  // not the queue's name (the routing key)
  CHECK(second.headers().empty());
  REQUIRE(second.ack());
}
