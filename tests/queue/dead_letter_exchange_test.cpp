// Dead letters the RabbitMQ way: a queue dead-letters to an exchange (x-dead-letter-exchange)
// with a routing key (x-dead-letter-routing-key). RabbitMQ's rules, from its "Dead Letter
// Exchanges" guide, quoted where a test pins one:
//   "Dead-lettered messages are routed to their dead letter exchange either: with the routing
//    key specified for the queue they were on; or, if this was not set, with the same routing
//    keys they were originally published with."
//   "If there is no matching binding, the message is dropped" (an exchange with no route).
#include <catch2/catch.hpp>

#include <filesystem>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

/// The seed's notification flow: email-notifications dead-letters through the direct exchange
/// notifications-dlx with routing key email.failed, which is bound to the queue email-failed.
void declare_notification_flow(Broker& broker, Durability durability = Durability::memory) {
  broker.declare_exchange("notifications-dlx", ExchangeType::direct);
  broker.declare_queue("email-failed", {.durability = durability});
  broker.bind("notifications-dlx", "email-failed", "email.failed");
  broker.declare_queue("email-notifications", {.max_deliveries = 1,
                                               .dead_letter = "notifications-dlx",
                                               .dead_letter_routing_key = "email.failed",
                                               .visibility_timeout = 0s,
                                               .durability = durability});
}

}  // namespace

TEST_CASE("a dead letter goes through the dead-letter exchange with x-dead-letter-routing-key") {
  Broker broker;
  declare_notification_flow(broker);
  auto producer = broker.producer();
  REQUIRE(producer.send("email-notifications", "to: nobody", {.key = "email.send"}));
  auto consumer = broker.consumer("email-notifications");
  auto got = consumer.receive(1s);
  REQUIRE(got);
  REQUIRE(got->reject("bounced"));

  auto failed = broker.consumer("email-failed");
  auto dead = failed.receive(1s);
  REQUIRE(dead);
  CHECK(text(*dead) == "to: nobody");
  CHECK(dead->id() == got->id());
  CHECK(dead->message().key() == "email.failed");  // "with the routing key specified for the queue"
  CHECK(dead->headers().get(headers::death_queue) == "email-notifications");
  CHECK(dead->headers().get(headers::death_reason) == "bounced");
  CHECK(dead->headers().get(headers::death_attempts) == "1");
  REQUIRE(dead->ack());
  CHECK(broker.queue("email-notifications").stats().dead_lettered == 1);
  CHECK(broker.exchange("notifications-dlx").stats().routed == 1);
}

TEST_CASE("without x-dead-letter-routing-key a dead letter keeps the key it was published with") {
  Broker broker;
  broker.declare_exchange("dlx", ExchangeType::topic);
  broker.declare_queue("failed-email");
  broker.declare_queue("failed-sms");
  broker.bind("dlx", "failed-email", "email.#");
  broker.bind("dlx", "failed-sms", "sms.#");
  broker.declare_exchange("notifications", ExchangeType::topic);
  broker.declare_queue("work", {.dead_letter = "dlx"});
  broker.bind("notifications", "work", "#");
  auto producer = broker.producer();
  REQUIRE(producer.publish("notifications", "email.send", "a"));
  REQUIRE(producer.publish("notifications", "sms.send", "b"));

  auto work = broker.consumer("work");
  for (int i = 0; i < 2; ++i) {
    auto got = work.receive(1s);
    REQUIRE(got);
    REQUIRE(got->nack(false));  // "with the same routing keys they were originally published with"
  }
  auto email = broker.consumer("failed-email");
  auto sms = broker.consumer("failed-sms");
  auto a = email.receive(1s);
  auto b = sms.receive(1s);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(text(*a) == "a");
  CHECK(a->message().key() == "email.send");
  CHECK(text(*b) == "b");
  CHECK(b->headers().get(headers::death_reason) == "rejected");
}

TEST_CASE("a dead letter its exchange cannot route is dropped, counted as unroutable there") {
  Broker broker;
  broker.declare_exchange("dlx", ExchangeType::direct);  // "no matching binding ... dropped"
  broker.declare_queue("work", {.dead_letter = "dlx", .dead_letter_routing_key = "nowhere"});
  auto producer = broker.producer();
  REQUIRE(producer.send("work", "x"));
  auto work = broker.consumer("work");
  auto got = work.receive(1s);
  REQUIRE(got);
  REQUIRE(got->reject());
  CHECK(broker.exchange("dlx").stats().unroutable == 1);
  CHECK(broker.queue("work").depth() == 0);
}

TEST_CASE("expired messages dead-letter through the exchange too, by the broker's clock") {
  ManualBroker m;
  m.broker.declare_exchange("dlx", ExchangeType::fanout);
  m.broker.declare_queue("expired");
  m.broker.bind("dlx", "expired");
  m.broker.declare_queue("work", {.dead_letter = "dlx", .ttl = 10s});
  REQUIRE(m.producer.send("work", "late"));
  m.clock->advance(11s);
  auto work = m.broker.consumer("work");
  CHECK(work.receive(0s).code() == Errc::timed_out);  // the take finds it expired
  auto expired = m.broker.consumer("expired");
  auto got = expired.receive(0s);
  REQUIRE(got);
  CHECK(got->headers().get(headers::death_reason) == "expired");
}

TEST_CASE(
    "a full queue behind the dead-letter exchange refuses the dead letter: settling never "
    "waits for room") {
  ManualBroker m;  // a wait for room would wait on a clock that never moves
  m.broker.declare_exchange("dlx", ExchangeType::fanout);
  m.broker.declare_queue("dead", {.capacity = 1, .overflow = Overflow::block, .send_timeout = 1h});
  m.broker.bind("dlx", "dead");
  m.broker.declare_queue("work", {.dead_letter = "dlx"});
  REQUIRE(m.producer.send("work", "1"));
  REQUIRE(m.producer.send("work", "2"));
  auto work = m.broker.consumer("work");
  for (int i = 0; i < 2; ++i) {
    auto got = work.receive(0s);
    REQUIRE(got);
    REQUIRE(got->reject());
  }
  CHECK(m.broker.queue("dead").depth() == 1);
  CHECK(m.broker.queue("dead").stats().rejected_full == 1);
  CHECK(m.broker.exchange("dlx").stats().rejected == 1);
}

TEST_CASE("a queue that dead-letters into itself through an exchange does not recurse when full") {
  Broker broker;
  broker.declare_exchange("loop", ExchangeType::fanout);
  broker.declare_queue("q",
                       {.capacity = 1, .overflow = Overflow::drop_oldest, .dead_letter = "loop"});
  broker.bind("loop", "q");
  auto producer = broker.producer();
  REQUIRE(producer.send("q", "old"));
  // Full: the oldest is dead-lettered through "loop" back into "q", which is still full and
  // refuses it (a dead letter never drops another's place): dropped and counted, no recursion.
  REQUIRE(producer.send("q", "new"));
  const auto stats = broker.queue("q").stats();
  CHECK(stats.depth == 1);
  CHECK(stats.dropped == 1);
  auto consumer = broker.consumer("q");
  auto got = consumer.receive(1s);
  REQUIRE(got);
  CHECK(text(*got) == "new");
}

TEST_CASE(
    "declaring a dead-letter destination: undeclared, a topic, or a routing key too long "
    "are typed errors") {
  Broker broker;
  CHECK(code_of([&] { broker.declare_queue("q", {.dead_letter = "nope"}); }) ==
        Errc::unknown_destination);
  broker.declare_topic("t");
  CHECK(code_of([&] { broker.declare_queue("q", {.dead_letter = "t"}); }) ==
        Errc::invalid_argument);
  broker.declare_exchange("dlx", ExchangeType::direct);
  CHECK(code_of([&] {
          broker.declare_queue(
              "q", {.dead_letter = "dlx", .dead_letter_routing_key = std::string(256, 'k')});
        }) == Errc::invalid_argument);
  broker.declare_queue("q", {.dead_letter = "dlx", .dead_letter_routing_key = "k"});
  const auto differs = error_of([&] {
    broker.declare_queue("q", {.dead_letter = "dlx", .dead_letter_routing_key = "other"});
  });
  REQUIRE(differs);
  CHECK(differs->code() == Errc::option_mismatch);
  CHECK(std::string(differs->what()).find("dead_letter_routing_key") != std::string::npos);
}

TEST_CASE("a look-up of the wrong kind names it with its article: 'is an exchange, not a queue'") {
  Broker broker;
  broker.declare_exchange("notifications-dlx", ExchangeType::direct);
  const auto error = error_of([&] { (void)broker.queue("notifications-dlx"); });
  REQUIRE(error);
  CHECK(std::string(error->what()).find("'notifications-dlx' is an exchange, not a queue") !=
        std::string::npos);
  const auto redeclared = error_of([&] { broker.declare_queue("notifications-dlx"); });
  REQUIRE(redeclared);
  CHECK(std::string(redeclared->what()).find("already declared as an exchange") !=
        std::string::npos);
}

TEST_CASE("a durable queue's dead-letter exchange and routing key survive a restart") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    declare_notification_flow(broker, Durability::always);
    auto producer = broker.producer();
    REQUIRE(producer.send("email-notifications", "kept"));
  }
  Broker broker({.data_dir = dir.path()});  // the catalog re-declares exchange before queue
  REQUIRE(broker.queue("email-notifications").options().dead_letter_routing_key == "email.failed");
  auto consumer = broker.consumer("email-notifications");
  auto got = consumer.receive(1s);
  REQUIRE(got);
  REQUIRE(got->reject());
  auto failed = broker.consumer("email-failed");
  auto dead = failed.receive(1s);
  REQUIRE(dead);
  CHECK(text(*dead) == "kept");
  CHECK(dead->message().key() == "email.failed");
  REQUIRE(dead->ack());
}
