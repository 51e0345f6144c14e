// Exchanges and routing (RabbitMQ): direct, topic, fanout, headers; unroutable policies.
#include <catch2/catch.hpp>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {
/// Everything currently in `queue`, acked, as payload strings.
std::vector<std::string> drain(Broker& broker, std::string_view queue) {
  auto c = broker.consumer(queue);
  std::vector<std::string> out;
  while (auto d = c.receive()) {
    out.push_back(text(*d));
    CHECK(d->ack());
  }
  return out;
}

}  // namespace

TEST_CASE("a direct exchange routes on the exact key") {
  ManualBroker t;
  t.broker.declare_exchange("logs", ExchangeType::direct);
  t.broker.declare_queue("errors");
  t.broker.declare_queue("all");
  t.broker.bind("logs", "errors", "error");
  t.broker.bind("logs", "all", "error");
  t.broker.bind("logs", "all", "info");
  REQUIRE(t.producer.publish("logs", "error", "disk full"));
  REQUIRE(t.producer.publish("logs", "info", "started"));
  REQUIRE(t.producer.publish("logs", "debug", "noise"));
  CHECK(drain(t.broker, "errors") == std::vector<std::string>{"disk full"});
  CHECK(drain(t.broker, "all") == std::vector<std::string>{"disk full", "started"});
  CHECK(t.broker.exchange("logs").stats().unroutable == 1);
}

TEST_CASE("a topic exchange follows AMQP's word rules") {
  ManualBroker t;
  t.broker.declare_exchange("events", ExchangeType::topic);
  for (const char* q : {"star", "hash-end", "hash-start", "hash-middle", "hash-only", "adjacent"}) {
    t.broker.declare_queue(q);
  }
  t.broker.bind("events", "star", "email.*");
  t.broker.bind("events", "hash-end", "email.#");
  t.broker.bind("events", "hash-start", "#.failed");
  t.broker.bind("events", "hash-middle", "email.#.failed");
  t.broker.bind("events", "hash-only", "#");
  t.broker.bind("events", "adjacent", "a.#.#.b");
  for (const char* key : {"email.send", "email", "email.bounce.failed", "sms.failed", "", "a.b"}) {
    REQUIRE(t.producer.publish("events", key, key));
  }
  CHECK(drain(t.broker, "star") == std::vector<std::string>{"email.send"});
  CHECK(drain(t.broker, "hash-end") ==
        std::vector<std::string>{"email.send", "email", "email.bounce.failed"});
  CHECK(drain(t.broker, "hash-start") ==
        std::vector<std::string>{"email.bounce.failed", "sms.failed"});
  CHECK(drain(t.broker, "hash-middle") == std::vector<std::string>{"email.bounce.failed"});
  CHECK(drain(t.broker, "hash-only").size() == 6);  // including the empty key
  CHECK(drain(t.broker, "adjacent") == std::vector<std::string>{"a.b"});
}

TEST_CASE("a fanout exchange copies every message to every binding - sharing the payload") {
  ManualBroker t;
  t.broker.declare_exchange("broadcast", ExchangeType::fanout);
  t.broker.declare_queue("a");
  t.broker.declare_queue("b");
  t.broker.bind("broadcast", "a");
  t.broker.bind("broadcast", "b", "keys are ignored");
  REQUIRE(t.producer.publish("broadcast", "whatever", "hello"));
  auto ca = t.broker.consumer("a");
  auto cb = t.broker.consumer("b");
  auto da = ca.receive();
  auto db = cb.receive();
  REQUIRE(da);
  REQUIRE(db);
  CHECK(da->payload().bytes().data() == db->payload().bytes().data());  // one payload, shared
  CHECK(t.broker.exchange("broadcast").stats().deliveries == 2);
}

TEST_CASE("a destination gets one copy however many of its bindings match") {
  ManualBroker t;
  t.broker.declare_exchange("events", ExchangeType::topic);
  t.broker.declare_queue("q");
  t.broker.bind("events", "q", "order.*");
  t.broker.bind("events", "q", "#");
  REQUIRE(t.producer.publish("events", "order.created", "x"));
  CHECK(drain(t.broker, "q").size() == 1);
}

TEST_CASE("a headers exchange matches all or any of the binding's arguments") {
  ManualBroker t;
  t.broker.declare_exchange("docs", ExchangeType::headers);
  t.broker.declare_queue("pdf-reports");
  t.broker.declare_queue("pdf-or-report");
  t.broker.bind("docs", "pdf-reports", {}, {.arguments = {{"format", "pdf"}, {"type", "report"}}});
  t.broker.bind("docs", "pdf-or-report", {},
                {.arguments = {{"x-match", "any"}, {"format", "pdf"}, {"type", "report"}}});
  REQUIRE(t.producer.send("docs", "1", {.headers = {{"format", "pdf"}, {"type", "report"}}}));
  REQUIRE(t.producer.send("docs", "2", {.headers = {{"format", "pdf"}, {"type", "log"}}}));
  REQUIRE(t.producer.send("docs", "3", {.headers = {{"format", "zip"}}}));
  CHECK(drain(t.broker, "pdf-reports") == std::vector<std::string>{"1"});
  CHECK(drain(t.broker, "pdf-or-report") == std::vector<std::string>{"1", "2"});
}

TEST_CASE("binding arguments filter what a fanout feeds each queue (SNS filter policy)") {
  ManualBroker t;
  t.broker.declare_exchange("orders", ExchangeType::fanout);
  t.broker.declare_queue("eu");
  t.broker.declare_queue("everything");
  t.broker.bind("orders", "eu", {}, {.arguments = {{"region", "eu"}}});
  t.broker.bind("orders", "everything");
  REQUIRE(t.producer.send("orders", "o1", {.headers = {{"region", "eu"}}}));
  REQUIRE(t.producer.send("orders", "o2", {.headers = {{"region", "us"}}}));
  CHECK(drain(t.broker, "eu") == std::vector<std::string>{"o1"});
  CHECK(drain(t.broker, "everything") == std::vector<std::string>{"o1", "o2"});
}

TEST_CASE("every queue fed by an exchange keeps full queue semantics") {
  ManualBroker t;
  t.broker.declare_queue("dlq");
  t.broker.declare_queue("work", {.max_deliveries = 1, .dead_letter = "dlq"});
  t.broker.declare_queue("audit");
  t.broker.declare_exchange("jobs", ExchangeType::fanout);
  t.broker.bind("jobs", "work");
  t.broker.bind("jobs", "audit");
  REQUIRE(t.producer.send("jobs", "task"));
  auto c = t.broker.consumer("work");
  REQUIRE(c.receive()->nack());
  CHECK(drain(t.broker, "dlq") == std::vector<std::string>{"task"});
  CHECK(drain(t.broker, "audit") == std::vector<std::string>{"task"});
}

TEST_CASE("unroutable messages are dropped - refused or sent to the alternate - by config") {
  ManualBroker t;
  t.broker.declare_queue("unrouted");
  t.broker.declare_exchange("drop", ExchangeType::direct);
  t.broker.declare_exchange("strict", ExchangeType::direct, {.unroutable = Unroutable::error});
  t.broker.declare_exchange("fallback", ExchangeType::direct,
                            {.unroutable = Unroutable::alternate, .alternate = "unrouted"});
  CHECK(t.producer.publish("drop", "nowhere", "a"));
  CHECK(t.broker.exchange("drop").stats().unroutable == 1);
  auto refused = t.producer.publish("strict", "nowhere", "b");
  CHECK(refused.code() == Errc::unroutable);
  CHECK(refused.message().find("strict") != std::string::npos);
  CHECK(t.producer.publish("fallback", "nowhere", "c"));
  CHECK(drain(t.broker, "unrouted") == std::vector<std::string>{"c"});
}

TEST_CASE("exchanges bound to exchanges route through - and a cycle delivers once") {
  ManualBroker t;
  t.broker.declare_exchange("front", ExchangeType::fanout);
  t.broker.declare_exchange("back", ExchangeType::direct);
  t.broker.declare_queue("q");
  t.broker.bind("front", "back");
  t.broker.bind("back", "front", "loop");
  t.broker.bind("back", "q", "loop");
  REQUIRE(t.producer.publish("front", "loop", "once"));
  CHECK(drain(t.broker, "q") == std::vector<std::string>{"once"});
}

TEST_CASE("unbinding stops routing - deleting a queue removes its bindings") {
  ManualBroker t;
  t.broker.declare_exchange("x", ExchangeType::direct);
  t.broker.declare_queue("q");
  t.broker.bind("x", "q", "k");
  CHECK(t.broker.unbind("x", "q", "k"));
  CHECK_FALSE(t.broker.unbind("x", "q", "k"));
  REQUIRE(t.producer.publish("x", "k", "after unbind"));
  CHECK(drain(t.broker, "q").empty());
  t.broker.bind("x", "q", "k");
  CHECK(t.broker.exchange("x").stats().bindings == 1);
  t.broker.delete_queue("q");
  CHECK(t.broker.exchange("x").stats().bindings == 0);
}

TEST_CASE("binding the same queue with the same key and arguments again changes nothing, and "
          "unbind removes one queue's binding among several with that key") {
  for (const ExchangeType type :
       {ExchangeType::direct, ExchangeType::topic, ExchangeType::fanout, ExchangeType::headers}) {
    INFO("exchange type " << static_cast<int>(type));
    ManualBroker t;
    t.broker.declare_exchange("x", type);
    t.broker.declare_queue("a");
    t.broker.declare_queue("b");
    const BindOptions to_a{.arguments = Headers{{"x-match", "any"}, {"to", "a"}}};
    const BindOptions to_b{.arguments = Headers{{"x-match", "any"}, {"to", "b"}}};
    t.broker.bind("x", "a", "k", to_a);
    t.broker.bind("x", "a", "k", to_a);  // identical: a no-op
    t.broker.bind("x", "b", "k", to_b);
    t.broker.bind("x", "b", "k", to_b);
    CHECK(t.broker.exchange("x").stats().bindings == 2);
    const auto send = [&](std::string_view to) {
      SendOptions o;
      o.key = "k";
      o.headers = Headers{{"to", std::string(to)}};
      REQUIRE(t.producer.send("x", "m", o));
    };
    send("a");
    send("b");
    // The arguments filter on every type: each queue gets its one message, never two from a
    // repeated bind.
    CHECK(drain(t.broker, "a").size() == 1);
    CHECK(drain(t.broker, "b").size() == 1);
    CHECK(t.broker.unbind("x", "a", "k"));
    CHECK_FALSE(t.broker.unbind("x", "a", "k"));
    CHECK(t.broker.exchange("x").stats().bindings == 1);
    send("b");
    CHECK(drain(t.broker, "a").empty());
    CHECK(drain(t.broker, "b").size() == 1);
    t.broker.bind("x", "a", "k", to_a);  // into the freed slot
    send("a");
    CHECK(drain(t.broker, "a").size() == 1);
    CHECK(t.broker.exchange("x").stats().bindings == 2);
  }
}

TEST_CASE("exchange misuse is a typed error naming what was wrong") {
  ManualBroker t;
  t.broker.declare_exchange("x", ExchangeType::topic);
  t.broker.declare_queue("q");
  CHECK(code_of([&] { t.broker.declare_exchange("x", ExchangeType::direct); }) ==
        Errc::option_mismatch);
  CHECK(code_of([&] { t.broker.declare_exchange("q", ExchangeType::direct); }) ==
        Errc::option_mismatch);
  CHECK(code_of([&] { t.broker.bind("x", "missing", "a.b"); }) == Errc::unknown_destination);
  CHECK(code_of([&] { t.broker.bind("missing", "q"); }) == Errc::unknown_destination);
  CHECK(code_of([&] { t.broker.bind("q", "x"); }) ==
        Errc::unknown_destination);  // q is no exchange
  CHECK(code_of([&] { t.broker.bind("x", "q", std::string(300, 'a')); }) == Errc::invalid_argument);
  t.broker.declare_exchange("h", ExchangeType::headers);
  CHECK(code_of([&] {
          t.broker.bind("h", "q", {}, {.arguments = {{"x-match", "most"}}});
        }) == Errc::invalid_argument);
  CHECK(code_of([&] {
          t.broker.declare_exchange("alt", ExchangeType::direct,
                                    {.unroutable = Unroutable::alternate, .alternate = "nope"});
        }) == Errc::unknown_destination);
  t.broker.bind("x", "q", "#");
  CHECK(code_of([&] { t.broker.delete_exchange("x", {.if_unused = true}); }) == Errc::in_use);
  t.broker.delete_exchange("x");
  CHECK(t.producer.publish("x", "a", "gone").code() == Errc::unknown_destination);
}

TEST_CASE("binding and unbinding while messages flow loses nothing that was routed") {
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kMessages = 20'000;
#else
  constexpr int kMessages = 200'000;
#endif
  Broker broker;
  broker.declare_exchange("events", ExchangeType::topic);
  broker.declare_queue("stable", {.capacity = kMessages});
  broker.declare_queue("flapping", {.capacity = kMessages});
  broker.bind("events", "stable", "order.#");
  std::atomic<bool> done{false};
  std::thread flapper([&] {
    while (!done.load()) {
      broker.bind("events", "flapping", "order.*");
      broker.unbind("events", "flapping", "order.*");
    }
  });
  auto producer = broker.producer();
  int failures = 0;
  for (int i = 0; i < kMessages; ++i) failures += !producer.publish("events", "order.created", "x");
  done = true;
  flapper.join();
  CHECK(failures == 0);
  CHECK(broker.queue("stable").depth() == static_cast<std::size_t>(kMessages));
  const auto stats = broker.exchange("events").stats();
  CHECK(stats.deliveries == kMessages + broker.queue("flapping").depth());
}

TEST_CASE(
    "a send that reaches durable queues through an exchange or a topic is reported to "
    "on_complete once, for the destination it was sent to") {
  const bool through_topic = GENERATE(false, true);
  INFO((through_topic ? "through a topic" : "through a fanout exchange"));
  ScratchDir dir;
  std::mutex mutex;  // a report may come from a flusher thread
  std::vector<Result<SendReceipt>> reports;
  {
    Broker broker({.data_dir = dir.path()});
    const QueueOptions batch{.durability = Durability::batch};
    broker.declare_queue("a", batch);
    broker.declare_queue("b", batch);
    if (through_topic) {
      broker.declare_topic("events");
      broker.subscribe_queue("events", "a");
      broker.subscribe_queue("events", "b");
    } else {
      broker.declare_exchange("events", ExchangeType::fanout);
      broker.bind("events", "a");
      broker.bind("events", "b");
    }
    SendOptions options;
    options.on_complete = [&](const Result<SendReceipt>& r) {
      std::lock_guard lock(mutex);
      reports.push_back(r);
    };
    REQUIRE(broker.producer().send("events", "x", options));
    // The broker's last sync fires whatever completion the queues still hold.
  }
  REQUIRE(reports.size() == 1);
  CHECK(reports[0]);
}
