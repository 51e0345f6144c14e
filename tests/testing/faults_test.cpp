// Faults: duplicate deliveries, lost acks and consumer crashes, injected by rule or with a seed,
// catch handlers that are not idempotent and show that flows survive at-least-once delivery.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "switchyard/switchyard.hpp"
#include "switchyard/testing.hpp"
#include "switchyard/testing/catch.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using testing::EventKind;
using testing::Fault;
using testing::FaultKind;

namespace {

struct Fixture {
  std::shared_ptr<testing::VirtualClock> clock = std::make_shared<testing::VirtualClock>();
  std::shared_ptr<testing::Recorder> recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker{BrokerOptions{.clock = clock, .interceptors = {recorder}}};
  testing::Dispatcher dispatcher{broker, clock, {.seed = 7}};
};

}  // namespace

TEST_CASE("a duplicate delivery catches a handler that is not idempotent", "[faults]") {
  Fixture f;
  f.broker.declare_queue("payments");
  int charged = 0;
  std::set<MessageId> seen;
  int charged_once = 0;
  f.dispatcher.consume("payments", [&](Delivery& d) {
    ++charged;                                       // naive: charges every call
    if (seen.insert(d.id()).second) ++charged_once;  // idempotent: once per message
  });
  f.dispatcher.inject(
      Fault{.kind = FaultKind::duplicate_delivery, .queue = "payments", .every = 1});
  auto producer = f.broker.producer();
  REQUIRE(producer.send("payments", "charge 10"));
  f.dispatcher.run_until_idle();
  CHECK(charged == 2);
  CHECK(charged_once == 1);
  CHECK(f.dispatcher.faults_injected() == 1);
  CHECK(f.recorder->consumed("payments").size() == 1);
}

TEST_CASE("a lost ack brings the message back after the visibility timeout with attempt 2",
          "[faults]") {
  Fixture f;
  f.broker.declare_queue("orders", QueueOptions{.visibility_timeout = 30s});
  std::vector<std::uint32_t> attempts;
  f.dispatcher.consume("orders", [&](Delivery& d) { attempts.push_back(d.attempt()); });
  f.dispatcher.inject(Fault{.kind = FaultKind::lose_ack, .every = 1, .at_most = 1});
  auto producer = f.broker.producer();
  const TimePoint start = f.clock->now();
  REQUIRE(producer.send("orders", "o-1"));
  f.dispatcher.run_for(1min);
  CHECK(attempts == std::vector<std::uint32_t>{1, 2});
  auto back = f.recorder->events(EventKind::redelivered, "orders");
  REQUIRE(back.size() == 1);
  CHECK(back[0].detail == "visibility_timeout");
  CHECK(back[0].at - start >= 30s);
  CHECK(f.recorder->consumed("orders").size() == 1);
}

TEST_CASE("a consumer that crashes before its ack has the message redelivered at once",
          "[faults]") {
  Fixture f;
  f.broker.declare_queue("orders");
  std::vector<std::uint32_t> attempts;
  f.dispatcher.consume("orders", [&](Delivery& d) { attempts.push_back(d.attempt()); });
  f.dispatcher.inject(
      Fault{.kind = FaultKind::crash_before_ack, .queue = "orders", .every = 1, .at_most = 1});
  auto producer = f.broker.producer();
  const TimePoint start = f.clock->now();
  REQUIRE(producer.send("orders", "o-1"));
  f.dispatcher.run_until_idle();
  CHECK(attempts == std::vector<std::uint32_t>{1, 2});
  auto back = f.recorder->events(EventKind::redelivered, "orders");
  REQUIRE(back.size() == 1);
  CHECK(back[0].detail == "consumer_closed");
  CHECK(f.clock->now() == start);
}

TEST_CASE("random faults with one seed inject the same faults twice", "[faults]") {
  auto run = [](std::uint64_t seed) {
    auto clock = std::make_shared<testing::VirtualClock>();
    auto recorder = std::make_shared<testing::Recorder>(clock);
    Broker broker{BrokerOptions{.clock = clock, .interceptors = {recorder}}};
    broker.declare_queue("q", QueueOptions{.visibility_timeout = 10s});
    testing::Dispatcher dispatcher(broker, clock, {.seed = seed});
    std::set<std::string> done;
    dispatcher.consume("q", [&](Delivery& d) { done.emplace(d.message().payload().as_string()); });
    dispatcher.inject(Fault{.kind = FaultKind::duplicate_delivery, .probability = 0.3});
    dispatcher.inject(Fault{.kind = FaultKind::lose_ack, .probability = 0.2});
    auto producer = broker.producer();
    for (int i = 0; i < 30; ++i) REQUIRE(producer.send("q", std::to_string(i)));
    dispatcher.run_for(10min);
    CHECK(done.size() == 30);  // every message processed despite the faults
    return std::pair{dispatcher.faults_injected(), recorder->trace(10'000)};
  };
  const auto first = run(99);
  CHECK(first.first > 0);
  CHECK(run(99) == first);
}

TEST_CASE("a fault with a probability outside [0, 1] is refused", "[faults]") {
  Fixture f;
  CHECK_THROWS_AS(f.dispatcher.inject(Fault{.probability = 1.5}), Error);
}

namespace {

/// A broker whose sends pass a SendFaults (after the recorder, as the header advises).
struct SendFixture {
  explicit SendFixture(std::uint64_t seed = 0)
      : faults(std::make_shared<testing::SendFaults>(seed)),
        broker(BrokerOptions{.clock = clock, .interceptors = {recorder, faults}}) {}
  std::shared_ptr<testing::VirtualClock> clock = std::make_shared<testing::VirtualClock>();
  std::shared_ptr<testing::Recorder> recorder = std::make_shared<testing::Recorder>(clock);
  std::shared_ptr<testing::SendFaults> faults;
  Broker broker;
};

}  // namespace

TEST_CASE("every third send to a queue fails with the fault's error and is not enqueued",
          "[faults][fail_send]") {
  SendFixture f;
  auto orders = f.broker.declare_queue("orders");
  auto audit = f.broker.declare_queue("audit");
  f.faults->inject(Fault{.kind = FaultKind::fail_send, .queue = "orders", .every = 3});
  auto producer = f.broker.producer();
  std::vector<Errc> codes;
  for (int i = 1; i <= 6; ++i) {
    codes.push_back(producer.send("orders", "o-" + std::to_string(i)).code());
    REQUIRE(producer.send("audit", "a"));  // another destination: untouched
  }
  CHECK(codes == std::vector<Errc>{Errc::ok, Errc::ok, Errc::full, Errc::ok, Errc::ok, Errc::full});
  CHECK(orders.depth() == 4);
  CHECK(audit.depth() == 6);
  CHECK(f.faults->faults_injected() == 2);
  auto failed = producer.send("orders", "o-7");
  REQUIRE(failed);  // the 7th is not a multiple of 3
  // The failure reads like a destination's refusal: a code and a message saying it was injected.
  f.faults->inject(Fault{.kind = FaultKind::fail_send, .every = 1, .error = Errc::io_error});
  auto refused = producer.send("audit", "a");
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Errc::io_error);
  CHECK(refused.error().message.find("fault injected") != std::string::npos);
  CHECK(audit.depth() == 6);
}

TEST_CASE("a handler that forwards gets its message again when the forward send fails",
          "[faults][fail_send]") {
  SendFixture f;
  f.broker.declare_queue("orders", QueueOptions{.retry_backoff = Backoff{.initial = 1s}});
  auto invoices = f.broker.declare_queue("invoices");
  testing::Dispatcher dispatcher(f.broker, f.clock);
  auto producer = f.broker.producer();
  std::vector<std::uint32_t> attempts;
  dispatcher.consume("orders", [&](Delivery& d) {
    attempts.push_back(d.attempt());
    producer.send("invoices", d.message().payload().as_string()).value();  // throws: nack
  });
  f.faults->inject(
      Fault{.kind = FaultKind::fail_send, .queue = "invoices", .every = 1, .at_most = 1});
  REQUIRE(producer.send("orders", "order-1"));
  dispatcher.run_for(1min);
  CHECK(attempts == std::vector<std::uint32_t>{1, 2});
  CHECK(invoices.depth() == 1);
  CHECK(f.recorder->count(EventKind::nacked, "orders") == 1);
  CHECK(f.recorder->consumed("orders").size() == 1);
}

TEST_CASE("random send failures with one seed fail the same sends twice", "[faults][fail_send]") {
  auto run = [](std::uint64_t seed) {
    SendFixture f(seed);
    auto q = f.broker.declare_queue("q");
    f.faults->inject(Fault{.kind = FaultKind::fail_send, .probability = 0.3});
    auto producer = f.broker.producer();
    std::vector<int> failed;
    for (int i = 0; i < 50; ++i) {
      if (!producer.send("q", std::to_string(i))) failed.push_back(i);
    }
    CHECK(q.depth() == 50 - failed.size());
    CHECK(f.faults->faults_injected() == failed.size());
    return failed;
  };
  const auto first = run(5);
  CHECK_FALSE(first.empty());
  CHECK(first.size() < 50);
  CHECK(run(5) == first);
  CHECK(run(6) != first);
}

// Every way a message enters the broker goes through the same check (Hooks::refused): a
// forward of a message already in hand, and a pub/sub publish, which has no Result to carry a
// failure and so throws it — as a Redis client's PUBLISH does when the link is down.
TEST_CASE("a failed send fault hits forward and pub/sub publish too", "[faults][fail_send]") {
  SendFixture f;
  auto orders = f.broker.declare_queue("orders");
  auto archive = f.broker.declare_queue("archive");
  auto producer = f.broker.producer();
  REQUIRE(producer.send("orders", "o-1"));
  auto consumer = f.broker.consumer("orders");
  auto d = consumer.receive(0s);
  REQUIRE(d);
  f.faults->inject(Fault{.kind = FaultKind::fail_send,
                         .queue = "archive",
                         .every = 1,
                         .at_most = 1,
                         .error = Errc::io_error});
  auto forwarded = producer.forward("archive", d->message());
  REQUIRE_FALSE(forwarded);
  CHECK(forwarded.error() == Errc::io_error);
  CHECK(archive.depth() == 0);
  REQUIRE(producer.forward("archive", d->message()));  // at_most 1: the next one goes
  CHECK(archive.depth() == 1);

  std::vector<std::string> heard;
  auto subscription = f.broker.subscribe(
      "news", [&](const Message& m) { heard.emplace_back(m.payload().as_string()); });
  f.faults->inject(
      Fault{.kind = FaultKind::fail_send, .queue = "news", .every = 2, .error = Errc::full});
  CHECK(f.broker.publish("news", "n-1") == 1);
  try {
    (void)f.broker.publish("news", "n-2");
    FAIL("the second publish on 'news' should have been refused");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::full);
  }
  CHECK(f.broker.publish("news", "n-3") == 1);
  f.clock->wait_until_idle();
  CHECK(heard == std::vector<std::string>{"n-1", "n-3"});
  CHECK(f.faults->faults_injected() == 2);
}

TEST_CASE("send faults and delivery faults go where they apply", "[faults][fail_send]") {
  auto faults = std::make_shared<testing::SendFaults>();
  CHECK_THROWS_AS(faults->inject(Fault{.kind = FaultKind::lose_ack, .every = 1}), Error);
  CHECK_THROWS_AS(
      faults->inject(Fault{.kind = FaultKind::fail_send, .every = 1, .error = Errc::ok}), Error);
  CHECK_THROWS_AS(faults->inject(Fault{.kind = FaultKind::fail_send, .probability = -0.1}), Error);
  Fixture f;
  CHECK_THROWS_AS(f.dispatcher.inject(Fault{.kind = FaultKind::fail_send, .every = 1}), Error);
}

namespace {
/// "payload@+ms" for each handler call: what ran, and when in virtual time.
struct Calls {
  std::shared_ptr<testing::VirtualClock> clock;
  TimePoint start = clock->now();
  std::vector<std::string> seen{};
  Consumer::Handler handler(std::string worker = {}) {
    return [this, worker](Delivery& d) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock->now() - start);
      seen.push_back(worker + std::string(d.message().payload().as_string()) + "@" +
                     std::to_string(ms.count()));
    };
  }
};
}  // namespace

TEST_CASE(
    "a delayed delivery reaches its handler later in virtual time, its consumer's next one "
    "after it",
    "[faults][delay]") {
  Fixture f;
  f.broker.declare_queue("orders");
  Calls calls{f.clock};
  f.dispatcher.consume("orders", calls.handler());
  f.dispatcher.inject(
      Fault{.kind = FaultKind::delay, .queue = "orders", .every = 1, .at_most = 1, .delay = 5s});
  auto producer = f.broker.producer();
  REQUIRE(producer.send("orders", "o1"));
  REQUIRE(producer.send("orders", "o2"));
  CHECK(f.dispatcher.run_until_idle() == 0);  // o1 is on its way; time does not move by itself
  CHECK(calls.seen.empty());
  f.dispatcher.run_for(1min);
  CHECK(calls.seen == std::vector<std::string>{"o1@5000", "o2@5000"});
  CHECK(f.dispatcher.faults_injected() == 1);
  CHECK(f.recorder->consumed("orders").size() == 2);
}

TEST_CASE("while one consumer's delivery is delayed, the queue's other consumer goes on",
          "[faults][delay]") {
  Fixture f;
  f.broker.declare_queue("orders");
  Calls calls{f.clock};
  testing::Dispatcher dispatcher(f.broker, f.clock);  // round robin: a receives first
  dispatcher.consume("orders", calls.handler("a:"));
  dispatcher.consume("orders", calls.handler("b:"));
  dispatcher.inject(Fault{.kind = FaultKind::delay, .every = 1, .at_most = 1, .delay = 2s});
  auto producer = f.broker.producer();
  REQUIRE(producer.send("orders", "o1"));
  REQUIRE(producer.send("orders", "o2"));
  dispatcher.run_for(10s);
  CHECK(calls.seen == std::vector<std::string>{"b:o2@0", "a:o1@2000"});
}

TEST_CASE(
    "a delivery delayed past its visibility timeout goes to another consumer, and the late "
    "ack is stale",
    "[faults][delay]") {
  Fixture f;
  f.broker.declare_queue("orders", QueueOptions{.visibility_timeout = 10s});
  std::vector<std::string> calls;  // consumer, attempt, whether its ack was accepted
  testing::Dispatcher dispatcher(f.broker, f.clock);  // round robin: a receives first
  for (const char* worker : {"a", "b"}) {
    dispatcher.consume("orders", [&calls, worker](Delivery& d) {
      calls.push_back(std::string(worker) + std::to_string(d.attempt()) +
                      (d.ack() ? " acked" : " stale"));
    });
  }
  dispatcher.inject(Fault{.kind = FaultKind::delay, .every = 1, .at_most = 1, .delay = 30s});
  auto producer = f.broker.producer();
  const TimePoint start = f.clock->now();
  REQUIRE(producer.send("orders", "o1"));
  dispatcher.run_for(1min);
  // b's receive at 10 s takes o1 back from a (the queue scans visibility as it receives).
  CHECK(calls == std::vector<std::string>{"b2 acked", "a1 stale"});
  auto back = f.recorder->events(EventKind::redelivered, "orders");
  REQUIRE(back.size() == 1);
  CHECK(back[0].detail == "visibility_timeout");
  CHECK(back[0].at - start == 10s);
  CHECK(f.recorder->consumed("orders").size() == 1);
}

TEST_CASE("a reorder swaps a delivery with the next one of its consumer", "[faults][reorder]") {
  Fixture f;
  f.broker.declare_queue("orders");
  Calls calls{f.clock};
  f.dispatcher.consume("orders", calls.handler());
  f.dispatcher.inject(Fault{.kind = FaultKind::reorder, .every = 1, .at_most = 1});
  auto producer = f.broker.producer();
  for (const char* o : {"o1", "o2", "o3"}) REQUIRE(producer.send("orders", o));
  f.dispatcher.run_until_idle();
  CHECK(calls.seen == std::vector<std::string>{"o2@0", "o1@0", "o3@0"});
  CHECK(f.dispatcher.faults_injected() == 1);
  CHECK(f.recorder->consumed("orders").size() == 3);
}

TEST_CASE("a reorder never breaks a single active consumer's order", "[faults][reorder]") {
  Fixture f;
  f.broker.declare_queue("ledger", QueueOptions{.single_active_consumer = true});
  Calls calls{f.clock};
  f.dispatcher.consume("ledger", calls.handler());
  f.dispatcher.inject(Fault{.kind = FaultKind::reorder, .every = 1});
  auto producer = f.broker.producer();
  for (const char* o : {"o1", "o2", "o3"}) REQUIRE(producer.send("ledger", o));
  f.dispatcher.run_until_idle();
  CHECK(calls.seen == std::vector<std::string>{"o1@0", "o2@0", "o3@0"});
  CHECK(f.dispatcher.faults_injected() == 0);
}

TEST_CASE("a reorder swaps across message groups, never within one", "[faults][reorder]") {
  Fixture f;
  f.broker.declare_queue("orders");
  Calls calls{f.clock};
  f.dispatcher.consume("orders", calls.handler());
  f.dispatcher.inject(Fault{.kind = FaultKind::reorder, .every = 1});
  auto producer = f.broker.producer();
  REQUIRE(producer.send("orders", "a1", SendOptions{.group = "a"}));
  REQUIRE(producer.send("orders", "a2", SendOptions{.group = "a"}));
  REQUIRE(producer.send("orders", "b1", SendOptions{.group = "b"}));
  f.dispatcher.run_until_idle();
  // a2 is held back while a1 is in flight, so a1 is swapped with b1; a1 still precedes a2.
  CHECK(calls.seen == std::vector<std::string>{"b1@0", "a1@0", "a2@0"});
  CHECK(f.dispatcher.faults_injected() == 1);
}

TEST_CASE("random delays, reorders and duplicates with one seed give one trace twice",
          "[faults][delay][reorder]") {
  auto run = [](std::uint64_t seed) {
    auto clock = std::make_shared<testing::VirtualClock>();
    auto recorder = std::make_shared<testing::Recorder>(clock);
    Broker broker{BrokerOptions{.clock = clock, .interceptors = {recorder}}};
    broker.declare_queue("q", QueueOptions{.visibility_timeout = 10s});
    testing::Dispatcher dispatcher(broker, clock, {.seed = seed});
    std::vector<std::string> order;
    std::set<std::string> done;
    for (int worker = 0; worker < 2; ++worker) {
      dispatcher.consume("q", [&](Delivery& d) {
        order.emplace_back(d.message().payload().as_string());
        done.emplace(d.message().payload().as_string());
      });
    }
    dispatcher.inject(Fault{.kind = FaultKind::delay, .probability = 0.2, .delay = 3s});
    dispatcher.inject(Fault{.kind = FaultKind::reorder, .probability = 0.3});
    dispatcher.inject(Fault{.kind = FaultKind::duplicate_delivery, .probability = 0.1});
    auto producer = broker.producer();
    for (int i = 0; i < 30; ++i) REQUIRE(producer.send("q", std::to_string(i)));
    dispatcher.run_for(5min);
    CHECK(done.size() == 30);
    return std::tuple{dispatcher.faults_injected(), order, recorder->trace(10'000)};
  };
  const auto first = run(1234);
  CHECK(std::get<0>(first) > 0);
  CHECK(run(1234) == first);
  CHECK(std::get<1>(run(4321)) != std::get<1>(first));
}

TEST_CASE("a delay fault needs a delay", "[faults][delay]") {
  Fixture f;
  CHECK_THROWS_AS(f.dispatcher.inject(Fault{.kind = FaultKind::delay, .every = 1}), Error);
}
