// Faults: duplicate deliveries, lost acks and consumer crashes, injected by rule or with a seed,
// catch handlers that are not idempotent and show that flows survive at-least-once delivery.
#include <catch2/catch.hpp>

#include <set>
#include <string>

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

TEST_CASE("send faults and delivery faults go where they apply", "[faults][fail_send]") {
  auto faults = std::make_shared<testing::SendFaults>();
  CHECK_THROWS_AS(faults->inject(Fault{.kind = FaultKind::lose_ack, .every = 1}), Error);
  CHECK_THROWS_AS(
      faults->inject(Fault{.kind = FaultKind::fail_send, .every = 1, .error = Errc::ok}), Error);
  CHECK_THROWS_AS(faults->inject(Fault{.kind = FaultKind::fail_send, .probability = -0.1}), Error);
  Fixture f;
  CHECK_THROWS_AS(f.dispatcher.inject(Fault{.kind = FaultKind::fail_send, .every = 1}), Error);
}
